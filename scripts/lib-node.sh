# Shared by the project's entry scripts: checks Node.js and installs the npm dependencies.
# shellcheck shell=bash

require_node() {
  if ! command -v node >/dev/null 2>&1; then
    echo "criscope needs Node.js 20 or newer on PATH (see the prerequisites in docs/operating.md)" >&2
    exit 1
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 20 ]; then
    echo "criscope needs Node.js 20 or newer; this is $(node --version)" >&2
    exit 1
  fi
}

# npm ci only when node_modules is missing or older than the lock file.
install_node_modules() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
}
