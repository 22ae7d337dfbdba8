#!/usr/bin/env bash
# Control ONLY the private containerd of the criscope test runtime.
#   containerd.sh start    start it (if not running) and wait until the socket answers
#   containerd.sh stop     SIGTERM it, wait until the process is gone and the socket removed
#                          (pods' shims and containers keep running, like a real runtime restart)
#   containerd.sh restart  stop + start
#   containerd.sh status   exit 0 and print pid/socket if running and answering, else exit 3
# Configs are (re)written from lib.sh on start; run up.sh once for images/registry.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { echo "usage: $TR_NAME start|stop|restart|status" >&2; exit 2; }
[ $# -eq 1 ] || usage

case "$1" in
  start)
    need_root; need_cmd containerd ctr runc; take_lock
    ctrd_start
    info "containerd running (pid $(ctrd_pid)) on $CTRD_SOCK"
    ;;
  stop)
    need_root; take_lock
    ctrd_stop
    info "containerd stopped"
    ;;
  restart)
    need_root; need_cmd containerd ctr runc; take_lock
    ctrd_stop
    ctrd_start
    info "containerd restarted (pid $(ctrd_pid)) on $CTRD_SOCK"
    ;;
  status)
    if pid="$(ctrd_pid)" && ctrd_answers; then
      echo "running pid=$pid socket=$CTRD_SOCK"
    elif [ -n "${pid:-}" ]; then
      echo "starting-or-hung pid=$pid socket=$CTRD_SOCK (not answering)"; exit 3
    else
      echo "stopped"; exit 3
    fi
    ;;
  *) usage ;;
esac
