#!/usr/bin/env bash
# A throw-away systemd "node" for tests of criscope's real units (config/systemd/):
# systemd-nspawn boots the host's own systemd in a container whose root is a small tree
# under $LAB_DIR/root, with the host's /usr read-only, so no image has to be built.
# The test containerd's state dir is bind-mounted at /run/containerd, so the node's
# runtime socket is at the usual /run/containerd/containerd.sock.
#
#   systemd-lab.sh up [--no-criscope]   boot the node (criscope's units, config and
#                                       executable installed unless --no-criscope)
#   systemd-lab.sh exec CMD...          run CMD inside the node (all its namespaces)
#   systemd-lab.sh leader               print the pid of the node's systemd (host pid)
#   systemd-lab.sh root                 print the node's root tree on the host
#   systemd-lab.sh down                 power the node off and remove its tree
#
# The repo is bind-mounted read-only at its own path, so a test can run the installer
# inside the node (`systemd-lab.sh exec node $REPO/dist/src/cli/main.js install ...`).
# From the host, the node's files are under $(systemd-lab.sh root) (written before boot,
# /usr/local is bind-mounted live from there), and its /run is reachable through
# /proc/$(systemd-lab.sh leader)/root/run (e.g. criscope's socket).
#
# Environment: CRISCOPE_SDLAB_DIR (default $STATE_DIR/sdlab), CRISCOPE_SDLAB_NAME (machine
# name, default criscope-lab), CRISCOPE_SDLAB_BIN (criscope executable; default dist/criscope,
# else - or when "node" - a wrapper running dist/src/cli/main.js with the host's node).
#
# Why this shape: the host need not run systemd as PID 1 (nspawn with --register=no
# --keep-unit never talks to a host systemd/machined), it works on cgroup v1 hybrid and v2
# hosts, and booting takes about a second because the tree has a machine-id (no first-boot
# preset-all of every unit in /usr) and /etc enables nothing but what we write.
set -euo pipefail
# shellcheck source=scripts/test-runtime/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAB_DIR="${CRISCOPE_SDLAB_DIR:-$STATE_DIR/sdlab}"
LAB_ROOT="$LAB_DIR/root"
LAB_NAME="${CRISCOPE_SDLAB_NAME:-criscope-lab}"
LAB_PIDFILE="$LAB_DIR/nspawn.pid"
LAB_LOG="$LAB_DIR/nspawn.log"
REPO_DIR="$(cd "$TR_DIR/../.." && pwd)"
BOOT_SECONDS="${CRISCOPE_SDLAB_BOOT_SECONDS:-60}"

# Without a host systemd, nspawn --keep-unit nests the container's cgroups ("payload",
# "supervisor") under its own cgroup and leaves them behind; started in a cgroup of the
# lab's own, two labs never share one and down removes it. With a host systemd, nspawn
# allocates (and removes) a transient scope itself.
host_has_systemd() { [ -d /run/systemd/system ]; }
lab_cgroups() {
  host_has_systemd && return 0
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo "/sys/fs/cgroup/criscope-sdlab-$LAB_NAME"; return; fi
  local h   # cgroup v1 / hybrid: the hierarchies systemd uses
  for h in systemd unified; do
    [ -d "/sys/fs/cgroup/$h" ] && echo "/sys/fs/cgroup/$h/criscope-sdlab-$LAB_NAME"
  done
  return 0
}
remove_cgroups() {
  local d
  for d in $(lab_cgroups); do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    [ -d "$d" ] && warn "could not remove cgroup $d (processes left in it?)"
  done
  return 0
}

# pid of the container's init (the one child of systemd-nspawn)
lab_leader() {
  local nspawn
  nspawn="$(pid_alive "$LAB_PIDFILE" systemd-nspawn)" || return 1
  pgrep -P "$nspawn" | head -n 1
}

lab_exec() {
  local leader
  leader="$(lab_leader)" || die "the lab node is not running (up first)"
  nsenter --target "$leader" --mount --uts --ipc --net --pid --cgroup -- "$@"
}

ensure_nspawn() {
  command -v systemd-nspawn >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "systemd-nspawn not found (package systemd-container)"
  info "installing systemd-container"
  DEBIAN_FRONTEND=noninteractive apt-get install -y systemd-container >"$LAB_DIR/apt.log" 2>&1 \
    || { tail -n 20 "$LAB_DIR/apt.log" >&2; die "apt-get install systemd-container failed"; }
}

criscope_executable() {
  case "${CRISCOPE_SDLAB_BIN:-}" in
    node) echo ""; return ;;   # the wrapper, even when dist/criscope exists
    "") [ -x "$REPO_DIR/dist/criscope" ] && { echo "$REPO_DIR/dist/criscope"; return; } ;;
    *) [ -x "$CRISCOPE_SDLAB_BIN" ] || die "CRISCOPE_SDLAB_BIN=$CRISCOPE_SDLAB_BIN is not executable"
       echo "$CRISCOPE_SDLAB_BIN"; return ;;
  esac
  [ -f "$REPO_DIR/dist/src/cli/main.js" ] || die "no dist/criscope nor dist/src/cli/main.js: build first"
  echo ""   # the wrapper
}

# The node's tree: just enough that systemd boots; /usr comes from the host.
make_tree() {
  rm -rf "$LAB_ROOT"
  mkdir -p "$LAB_ROOT"/{etc/systemd/system,usr,usr-local/bin,var/lib,var/log/journal,run,tmp,proc,sys,dev,root,home,srv,opt,mnt}
  chmod 1777 "$LAB_ROOT/tmp"
  local l
  for l in bin sbin lib lib64; do [ -L "/$l" ] && ln -s "usr/$l" "$LAB_ROOT/$l"; done
  cp /etc/os-release "$LAB_ROOT/etc/os-release" 2>/dev/null || cp /usr/lib/os-release "$LAB_ROOT/etc/os-release"
  # a machine-id: not a "first boot", so systemd does not preset-all every unit in /usr
  systemd-id128 new >"$LAB_ROOT/etc/machine-id"
  echo "$LAB_NAME" >"$LAB_ROOT/etc/hostname"
  # multi-user.target, as on a node: `systemctl enable` (WantedBy=multi-user.target) means
  # the same here. With /etc empty but for what we write, it pulls only the few static units
  # the host's /usr wants (dbus, logind, getty), which start in well under a second.
  ln -s /usr/lib/systemd/system/multi-user.target "$LAB_ROOT/etc/systemd/system/default.target"
  # the kubelet stand-in, enabled: a unit named kubelet.service, so criscope's drop-in
  # applies to it as on a node. It logs whether criscope's socket existed when it started.
  cat >"$LAB_ROOT/etc/systemd/system/kubelet.service" <<'UNIT'
[Unit]
Description=kubelet stand-in (criscope lab)
[Service]
Type=exec
ExecStart=/bin/sh -c 'if test -S /run/criscope/criscope.sock; then echo "kubelet-standin: criscope socket present"; else echo "kubelet-standin: no criscope socket"; fi; exec sleep infinity'
[Install]
WantedBy=multi-user.target
UNIT
  mkdir -p "$LAB_ROOT/etc/systemd/system/multi-user.target.wants"
  ln -s ../kubelet.service "$LAB_ROOT/etc/systemd/system/multi-user.target.wants/kubelet.service"
}

install_criscope() {
  local bin sd="$LAB_ROOT/etc/systemd/system"
  bin="$(criscope_executable)"
  if [ -n "$bin" ]; then
    cp "$bin" "$LAB_ROOT/usr-local/bin/criscope"
  else
    # the bundle is not there: node from the host's /usr runs the compiled sources in
    # the repo (bind-mounted read-only at the same path)
    printf '#!/bin/sh\nexec /usr/bin/node %s/dist/src/cli/main.js "$@"\n' "$REPO_DIR" >"$LAB_ROOT/usr-local/bin/criscope"
  fi
  chmod 0755 "$LAB_ROOT/usr-local/bin/criscope"
  cp "$REPO_DIR/config/systemd/criscope.service" "$REPO_DIR/config/systemd/criscope.socket" "$sd/"
  mkdir -p "$sd/kubelet.service.d" "$LAB_ROOT/etc/default" "$LAB_ROOT/etc/criscope"
  cp "$REPO_DIR/config/systemd/kubelet.service.d/90-criscope.conf" "$sd/kubelet.service.d/"
  cp "$REPO_DIR/config/systemd/criscope.env" "$LAB_ROOT/etc/default/criscope"
  # the shipped config names /run/containerd/containerd.sock, where the lab puts the
  # test containerd's socket
  cp "$REPO_DIR/config/criscope.yaml" "$LAB_ROOT/etc/criscope/criscope.yaml"
  # enable as `systemctl enable` would (WantedBy=)
  mkdir -p "$sd/sockets.target.wants" "$sd/multi-user.target.wants"
  ln -s ../criscope.socket "$sd/sockets.target.wants/criscope.socket"
  ln -s ../criscope.service "$sd/multi-user.target.wants/criscope.service"
}

cmd_up() {
  local with_criscope=1
  [ "${1:-}" = --no-criscope ] && with_criscope=0
  need_root
  mkdir -p "$LAB_DIR"
  if lab_leader >/dev/null 2>&1; then die "the lab node is already running (down first)"; fi
  ensure_nspawn
  [ -S "$CTRD_SOCK" ] || die "no test containerd socket at $CTRD_SOCK (run up.sh first)"
  local start=$SECONDS
  make_tree
  [ "$with_criscope" = 1 ] && install_criscope
  # --register=no (and --keep-unit without a host systemd): no host systemd/machined
  # needed. --private-network: the node's 127.0.0.1:9810 (criscope's http) is its own.
  local cgroups keep_unit=()
  cgroups="$(lab_cgroups)"
  [ -n "$cgroups" ] && keep_unit=(--keep-unit)
  local i state="" leader="" attempt
  # A boot that dies at once (systemd-nspawn exiting with nothing in its log) was seen once in
  # five full test runs on these machines (a second try from a clean cgroup booted), and once
  # twice in a row (a rerun minutes later booted): so three tries, with a pause between.
  for attempt in 1 2 3; do
    [ "$attempt" = 1 ] || sleep 2
    remove_cgroups
    : >"$LAB_LOG"
    # shellcheck disable=SC2016  # $d and $$ are the child shell's
    spawn_daemon "$LAB_PIDFILE" "$LAB_LOG" bash -c \
      'for d in $0; do mkdir -p "$d" && echo $$ >"$d/cgroup.procs"; done; exec "$@"' "$cgroups" \
      systemd-nspawn --quiet --directory="$LAB_ROOT" --machine="$LAB_NAME" --boot \
      --register=no "${keep_unit[@]}" --private-network --console=passive \
      --bind-ro=/usr --bind="$LAB_ROOT/usr-local:/usr/local" \
      --bind="$STATE_DIR:/run/containerd" --bind-ro="$REPO_DIR"
    local exited=0
    for ((i = 0; i < BOOT_SECONDS * 10; i++)); do
      pid_alive "$LAB_PIDFILE" systemd-nspawn >/dev/null || { exited=1; break; }
      leader="$(lab_leader || true)"
      if [ -n "$leader" ]; then
        state="$(nsenter --target "$leader" --mount --pid -- systemctl is-system-running 2>/dev/null || true)"
        case "$state" in running|degraded) break ;; esac
      fi
      sleep 0.1
    done
    [ "$exited" = 0 ] && break
    tail -n 30 "$LAB_LOG" >&2
    [ "$attempt" = 3 ] && die "systemd-nspawn exited during boot, three times (log: $LAB_LOG)"
    warn "systemd-nspawn exited during boot; trying again"
  done
  case "$state" in
    running) ;;
    degraded) warn "node booted degraded: $(lab_exec systemctl --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')" ;;
    *) die "node did not finish booting within ${BOOT_SECONDS}s (state '${state:-none}', log: $LAB_LOG)" ;;
  esac
  info "node $LAB_NAME up in $((SECONDS - start))s: systemd pid $leader, root $LAB_ROOT"
}

cmd_down() {
  need_root
  local nspawn leader
  if nspawn="$(pid_alive "$LAB_PIDFILE" systemd-nspawn)"; then
    leader="$(pgrep -P "$nspawn" | head -n 1 || true)"
    # SIGRTMIN+4 asks systemd for a clean poweroff; nspawn exits when it has
    if [ -n "$leader" ]; then kill -s RTMIN+4 "$leader" 2>/dev/null || true; fi
    if ! wait_gone "$nspawn" 20; then
      warn "node did not power off in 20s; killing systemd-nspawn"
      kill -KILL "$nspawn" 2>/dev/null || true
      wait_gone "$nspawn" 5 || die "systemd-nspawn (pid $nspawn) would not die"
    fi
  fi
  remove_cgroups
  rm -rf "$LAB_DIR"
  info "node $LAB_NAME down"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  exec) shift; lab_exec "$@" ;;
  leader) lab_leader || die "the lab node is not running" ;;
  root) echo "$LAB_ROOT" ;;
  *) die "usage: $TR_NAME up [--no-criscope] | exec CMD... | leader | root | down" ;;
esac
