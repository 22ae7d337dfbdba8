#!/usr/bin/env bash
# The test command (npm test, and CI's .ci/run): on a fresh Debian 12 machine, as root,
# installs and starts what the tests need (a private containerd, runc, a loopback
# registry with locally built images), builds criscope, then runs the unit tests and
# the end-to-end tests against the real runtime. Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib-node.sh

require_node
bash scripts/test-runtime/up.sh
install_node_modules
npm run --silent build
npm run --silent lint

# One file at a time: some end-to-end tests stop and restart the shared containerd.
# No --test-force-exit: with it, Node 20 drops the last results a test file sent before
# exiting (nodejs/node#64833), so a run could report fewer tests than ran, and still pass.
# A test that hangs fails after --test-timeout; a file that never exits is cut off with
# the whole run, long before CI's own limit, so a hang shows as a failure with its output.
timeout --kill-after=30s 40m \
  node --test --test-concurrency=1 --test-timeout=600000 dist/test/unit/*.test.js dist/test/e2e/*.test.js
