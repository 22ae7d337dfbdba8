#!/usr/bin/env bash
# The README's quick start: on a fresh Debian 12 machine, as root, starts the private
# containerd (scripts/test-runtime/up.sh), builds criscope, runs it in front of that
# containerd on its own socket, prints every CRI call it relays as one line, and drives
# one sample pod through it. Ctrl-C (or SIGTERM) removes the pod through criscope,
# stops criscope and exits 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib-node.sh

DEMO_DIR="${CRISCOPE_DEMO_DIR:-/run/criscope-demo}"
SOCK="$DEMO_DIR/criscope.sock"
FIFO="$DEMO_DIR/calls.fifo"
TEST_ENV=/run/criscope-test/env

say() { echo "demo: $*"; }
die() { echo "demo: error: $*" >&2; exit 1; }

# pid_of PIDFILE MATCH -> the pid in PIDFILE if that process is alive and its command line has MATCH
pid_of() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$2" && echo "$pid"
}

# A killed run can leave its pod client and criscope running (criscope has its own session).
stop_leftover() {
  local pid i
  pid="$(pid_of "$1" "$2")" || return 0
  say "stopping pid $pid, left running by an earlier run"
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# wait_exit PID -> its exit status; `wait` returns early when a trapped signal arrives
wait_exit() {
  local rc
  while :; do
    rc=0
    wait "$1" || rc=$?
    kill -0 "$1" 2>/dev/null || return "$rc"
  done
}

# 9810 when free, else any free port
pick_http_port() {
  node -e 'const net = require("node:net");
    const bind = (port) => { const s = net.createServer();
      s.once("error", () => bind(0));
      s.listen(port, "127.0.0.1", () => { const p = s.address().port; s.close(() => console.log(p)); }); };
    bind(9810);'
}

[ "$(id -u)" = 0 ] || die "must run as root (containerd needs it)"
require_node
bash scripts/test-runtime/up.sh
install_node_modules
npm run --silent build
CTRD_SOCK="$(sed -n 's/^CRISCOPE_TEST_CONTAINERD_SOCK=//p' "$TEST_ENV")"
[ -S "$CTRD_SOCK" ] || die "no containerd socket in $TEST_ENV"

mkdir -p "$DEMO_DIR"
exec 8>"$DEMO_DIR/lock"   # held by this script only: children get 8>&-
flock -n 8 || die "another demo is running (it holds $DEMO_DIR/lock)"
stop_leftover "$DEMO_DIR/sample-pod.pid" dist/demo/sample-pod.js
stop_leftover "$DEMO_DIR/criscope.pid" "--listen unix://$SOCK"

criscope_pid='' printer_pid='' pod_pid=''
finish() {
  if [ -n "$criscope_pid" ] && kill -0 "$criscope_pid" 2>/dev/null; then
    kill -TERM "$criscope_pid" 2>/dev/null || true
    wait_exit "$criscope_pid" || true
  fi
  # the printer ends once criscope's output closes, after showing its last lines
  # (or never opens it, when criscope did not start)
  if [ -z "$criscope_pid" ] && [ -n "$printer_pid" ]; then kill "$printer_pid" 2>/dev/null || true; fi
  [ -z "$printer_pid" ] || wait_exit "$printer_pid" || true
  rm -f "$FIFO" "$DEMO_DIR/criscope.pid" "$DEMO_DIR/sample-pod.pid"
}
trap finish EXIT
# Ctrl-C reaches the pod client through the process group already; a signal sent to
# this script alone is passed on. Before the pod client runs, it just ends the demo.
on_signal() { if [ -n "$pod_pid" ]; then kill "-$1" "$pod_pid" 2>/dev/null || true; else exit 130; fi; }
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

port="$(pick_http_port)"
rm -f "$FIFO"
mkfifo "$FIFO"
node dist/demo/print-calls.js <"$FIFO" 8>&- &
printer_pid=$!
# Its own session, so Ctrl-C does not stop criscope before the pod is removed through it.
setsid node dist/src/cli/main.js serve --listen "unix://$SOCK" --runtime-endpoint "unix://$CTRD_SOCK" \
  --http-listen "127.0.0.1:$port" --log-level debug </dev/null >"$FIFO" 2>&1 8>&- &
criscope_pid=$!
echo "$criscope_pid" >"$DEMO_DIR/criscope.pid"
for ((i = 0; ; i++)); do
  kill -0 "$criscope_pid" 2>/dev/null || die "criscope exited (its output is above)"
  [ "$i" -lt 200 ] || die "criscope is not ready after 20 s"
  [ -S "$SOCK" ] && curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && break
  sleep 0.1
done

cat <<EOF

  criscope is up on  unix://$SOCK  (in front of containerd at $CTRD_SOCK;
  health at http://127.0.0.1:$port/readyz). Every CRI call it relays is printed below.
  Point your own CRI client at it meanwhile, e.g.
      crictl --runtime-endpoint unix://$SOCK ps
  (crictl is not packaged in Debian 12: https://github.com/kubernetes-sigs/cri-tools/releases)
  Ctrl-C removes the sample pod through criscope, then stops criscope.

EOF
node dist/demo/sample-pod.js --socket "$SOCK" --log-root "$DEMO_DIR/pods" 8>&- &
pod_pid=$!
echo "$pod_pid" >"$DEMO_DIR/sample-pod.pid"
pod_status=0
wait_exit "$pod_pid" || pod_status=$?
finish
trap - EXIT
[ "$pod_status" = 0 ] && say "done: sample pod removed, criscope stopped" || say "the sample pod reported a failure (exit $pod_status)"
exit "$pod_status"
