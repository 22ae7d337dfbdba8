#!/usr/bin/env bash
# npm run bench: builds criscope, makes sure the yardstick relay (nghttpx) and the private
# test containerd are there, then runs the benchmark (bench/main.ts). Settings are env vars:
# see bench/config.ts (CRISCOPE_BENCH_*; CRISCOPE_BENCH_ARGS passes extra args to criscope;
# CRISCOPE_BENCH_QUICK=1 checks the bench itself in a minute or two).
# stdout is the report alone, in markdown; everything else goes to stderr. To keep a full run:
#   npm run --silent bench > bench/results/$(date -u +%F).md
# Exits non-zero when a verdict fails or a path crashed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The build's output would land in the report.
npm run --silent build >&2

if ! command -v nghttpx >/dev/null 2>&1; then
  echo "bench: installing nghttpx (Debian package nghttp2-proxy)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when they don't know the package yet.
  if ! apt-cache policy nghttp2-proxy 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update -qq
  fi
  apt-get install -y -qq --no-install-recommends nghttp2-proxy >/dev/null
fi

# The containerd half is optional: without it the bench measures the stub runtime only.
if [ -f scripts/test-runtime/up.sh ] && [ "${CRISCOPE_BENCH_BACKENDS:-stub,containerd}" != stub ]; then
  if ! bash scripts/test-runtime/up.sh >&2; then
    echo "bench: scripts/test-runtime/up.sh failed; measuring without containerd" >&2
    export CRISCOPE_BENCH_BACKENDS=stub
  fi
fi

exec node dist/bench/main.js
