#!/usr/bin/env bash
# Install (from Debian 12's apt repositories) everything the private test
# runtime needs. Idempotent: does nothing (and no apt-get update) when all
# packages are already installed. Must run as root.
#
# Debian's own containerd / docker-registry / nghttpx / prometheus services are NOT wanted:
# while installing we hold a policy-rc.d that forbids service starts (unless
# the machine already has one), and if systemd is running we stop+disable the
# units we just installed. Our own instances use private sockets/ports anyway.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root

PACKAGES=(
  containerd                  # 1.6.x, CRI v1 + v1alpha2, ships ctr and containerd-shim-runc-v2
  runc                        # crun refuses the hybrid cgroup layout
  containernetworking-plugins # bridge, host-local, loopback in /usr/lib/cni
  busybox-static              # /bin/busybox for the busybox test image
  docker-registry             # distribution v2 registry, serves the mirror on 127.0.0.1
  skopeo                      # copy OCI layouts to the registry / to archives
  umoci                       # build OCI images without docker
  iproute2
  nghttp2-proxy               # nghttpx, used by the benchmark
  gcc libc6-dev               # static pause binary
  curl                        # registry health checks
  util-linux                  # flock, setsid, mount
  prometheus                  # prometheus + promtool: the metrics e2e test scrapes criscope and checks the alert rules
  systemd                     # systemd-analyze checks the unit files; systemd-socket-activate passes criscope its socket
  systemd-container           # systemd-nspawn boots a small systemd node to run the real units in
)

missing=()
installed=" $(dpkg-query -W -f='${db:Status-Status}:${Package} ' "${PACKAGES[@]}" 2>/dev/null || true)"
for p in "${PACKAGES[@]}"; do
  [[ "$installed" == *" installed:$p "* ]] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  info "all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 only"

POLICY=/usr/sbin/policy-rc.d
own_policy=""
cleanup() { if [ -n "$own_policy" ]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# temporary, written by criscope scripts/test-runtime/install.sh\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  own_policy=1
fi

info "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp /tmp/criscope-install.XXXXXX.log)"
if ! apt-get update -q >"$log" 2>&1; then
  cat "$log" >&2; die "apt-get update failed (log: $log)"
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
  tail -n 40 "$log" >&2; die "apt-get install failed (full log: $log)"
fi
rm -f "$log"

# If systemd runs this machine, make sure Debian's units for these packages
# are not running/enabled (they would not clash with ours on sockets/ports,
# but they waste resources and confuse debugging).
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null; then
  # (prometheus-node-exporter, prometheus' Recommends, is not installed: --no-install-recommends.)
  for unit in containerd.service docker-registry.service nghttpx.service prometheus.service; do
    for p in "${missing[@]}"; do
      case "$unit:$p" in
        containerd.service:containerd|docker-registry.service:docker-registry|nghttpx.service:nghttp2-proxy|prometheus.service:prometheus)
          systemctl disable --now "$unit" >/dev/null 2>&1 || true ;;
      esac
    done
  done
fi

for c in containerd ctr containerd-shim-runc-v2 runc skopeo umoci docker-registry busybox gcc nghttpx ip curl prometheus promtool; do
  command -v "$c" >/dev/null || die "'$c' still missing after install"
done
[ -x /usr/lib/cni/bridge ] || die "/usr/lib/cni/bridge missing after install"
info "installed ${#missing[@]} package(s)"
