#!/usr/bin/env bash
# Tear down the private test runtime:
#   1. while our containerd still answers: kill and delete every task and
#      container it knows (all namespaces), remembering the pods' netns files;
#   2. stop containerd (wait for exit, remove socket);
#   3. best effort: kill leftover shims of OUR containerd (matched by our socket
#      path on their command line), force-delete leftover runc containers in our
#      private runc root, unmount anything still mounted under our dirs, remove
#      the remembered netns files;
#   4. stop the registry and remove the env file.
# Images (content store, OCI cache, registry storage) are kept, so the next
# up.sh is fast. --purge also deletes containerd's root, the registry storage,
# CNI leases and the state dir (the image build cache is kept).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root

purge=""
case "${1:-}" in
  "") ;;
  --purge) purge=1 ;;
  *) echo "usage: $TR_NAME [--purge]" >&2; exit 2 ;;
esac
take_lock

netns_files=()
ids=()
tasks_killed=0
if ctrd_pid >/dev/null && ctrd_answers; then
  for ns in $(ctr_ namespaces ls -q 2>/dev/null); do
    for id in $(ctr_ -n "$ns" containers ls -q 2>/dev/null); do
      ids+=("$id")
      while read -r p; do [ -n "$p" ] && netns_files+=("$p"); done < <(
        ctr_ -n "$ns" containers info "$id" 2>/dev/null \
          | grep -o '"path": *"/var/run/netns/[^"]*"\|"path": *"/run/netns/[^"]*"' | sed 's/.*"\(\/[^"]*\)"/\1/' || true)
    done
    for id in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
      ctr_ -n "$ns" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
      tasks_killed=$((tasks_killed + 1))
    done
    # CRI's exit handler usually deletes the killed tasks itself; wait for that
    # or delete them (up to 5 s each)
    for id in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
      for _ in $(seq 25); do
        ctr_ -n "$ns" tasks ls -q 2>/dev/null | grep -qxF "$id" || break
        ctr_ -n "$ns" tasks delete "$id" >/dev/null 2>&1 && break
        sleep 0.2
      done
    done
    for id in $(ctr_ -n "$ns" containers ls -q 2>/dev/null); do
      ctr_ -n "$ns" containers delete "$id" >/dev/null 2>&1 || warn "could not delete container $ns/$id"
    done
  done
fi

ctrd_stop

# leftover shims started by OUR containerd (their cmdline carries our socket path)
for f in $(grep -lsF -- "$CTRD_SOCK" /proc/[0-9]*/cmdline 2>/dev/null || true); do
  pid="${f#/proc/}"; pid="${pid%/cmdline}"
  cmd="$(tr '\0' ' ' <"$f" 2>/dev/null || true)"
  case "$cmd" in
    *containerd-shim*"-address $CTRD_SOCK "*|*containerd-shim*"-address $CTRD_SOCK")
      if kill -KILL "$pid" 2>/dev/null; then warn "killed leftover shim $pid"; fi ;;
  esac
done

# leftover runc containers in our private runc root
if [ -d "$RUNC_ROOT" ] && command -v runc >/dev/null; then
  for root in "$RUNC_ROOT"/*/; do
    [ -d "$root" ] || continue
    for id in $(runc --root "$root" list -q 2>/dev/null); do
      if runc --root "$root" delete --force "$id" >/dev/null 2>&1; then warn "force-deleted leftover container $id"; fi
    done
  done
fi

# anything still mounted under our trees (deepest first)
umount_under() {
  local m
  { awk '{print $5}' /proc/self/mountinfo | grep -E "^($STATE_DIR|$DATA_DIR)/" || true; } | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || warn "could not unmount $m"
  done
}
umount_under
for f in "${netns_files[@]}"; do
  [ -e "$f" ] || continue
  umount "$f" 2>/dev/null || umount -l "$f" 2>/dev/null || true
  rm -f "$f" 2>/dev/null || true
done

# CNI leftovers of the pods we just killed behind CRI's back: IP leases in our
# private host-local dir, and libcni's cached results (named after our network
# or after our sandbox ids)
rm -f "$DATA_DIR/cni/ipam/criscope-test/"[0-9]* 2>/dev/null || true
for id in "${ids[@]}"; do
  rm -f "/var/lib/cni/results/criscope-test-$id-"* "/var/lib/cni/results/cni-loopback-$id-"* 2>/dev/null || true
done

reg_stop
rm -f "$ENV_FILE"

if [ -n "$purge" ]; then
  for d in "$CTRD_ROOT" "$REGISTRY_DATA" "$DATA_DIR/cni" "$CERTS_DIR"; do
    rm -rf --one-file-system "$d"
  done
  rm -rf --one-file-system "$STATE_DIR"
  ip link del "$CNI_BRIDGE" 2>/dev/null || true
fi

info "down (killed $tasks_killed task(s)${purge:+, purged containerd root and registry storage})"
