#!/usr/bin/env bash
# Build the two test images as an OCI layout in $CRISCOPE_TEST_DATA_DIR/images
# (default /var/lib/criscope-test/images), without docker:
#   pause              sandbox image: /pause, a tiny static C program (see below)
#   busybox            Debian's static busybox with applet symlinks, cmd ["sh"]
#   busybox-pull-only  busybox plus one config label, so it has its OWN image id
#                      (a test that removes it by id must not remove busybox too)
# and one oci-archive per image under images/archives/, named with the full
# registry.criscope.test/... reference, ready for `ctr images import`.
#
# Rebuilt only when missing or when this script changed (a stamp records the
# script's hash). --force rebuilds unconditionally.
#
# Why a C pause and not busybox+trap: a shell as PID 1 only runs its trap after
# its foreground child exits, does not reap zombies of a shared PID namespace
# on purpose, and drags a whole busybox into every sandbox. The C program is the
# same ~20 lines Kubernetes uses: pause() forever, exit 0 on SIGINT/SIGTERM,
# reap children on SIGCHLD. gcc and libc6-dev come with install.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
need_cmd umoci skopeo gcc

force=""
[ "${1:-}" = "--force" ] && force=1

mkdir -p "$IMAGES_DIR"
exec 8>"$IMAGES_DIR/.build.lock"
flock -w 300 8 || die "timed out waiting for $IMAGES_DIR/.build.lock"

STAMP="$IMAGES_DIR/.stamp"
want_stamp="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-64)"
if [ -z "$force" ] && [ -d "$OCI_LAYOUT" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want_stamp" ]; then
  ok=1
  for row in "${IMAGE_TABLE[@]}"; do
    IFS='|' read -r tag _ _ <<<"$row"
    [ -s "$IMAGES_DIR/archives/$tag.tar" ] || ok=""
  done
  [ -s "$IMAGES_DIR/digests" ] || ok=""
  if [ -n "$ok" ]; then info "images up to date in $IMAGES_DIR"; exit 0; fi
fi

[ -x /bin/busybox ] || die "/bin/busybox missing (install busybox-static)"
head -c 4 /bin/busybox | grep -q ELF || die "/bin/busybox is not an ELF binary"
if grep -q 'NEEDED' <(LC_ALL=C readelf -d /bin/busybox 2>/dev/null || true); then
  die "/bin/busybox is dynamically linked; install busybox-static (it replaces the dynamic busybox)"
fi

work="$(mktemp -d "$IMAGES_DIR/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
layout="$work/oci"
umoci_() { umoci --log error "$@"; }
CREATED="2024-01-01T00:00:00Z"   # fixed timestamps => reproducible digests
EPOCH="@1704067200"

umoci_ init --layout "$layout"

# ---------- pause ----------
mkdir -p "$work/pause-src" "$work/pause-root"
cat >"$work/pause-src/pause.c" <<'C'
/* criscope test sandbox ("pause") process. Same behaviour as Kubernetes'
 * pause: sleep forever, exit 0 promptly on SIGINT/SIGTERM, reap zombies. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo) {
  (void)signo;
  static const char msg[] = "pause: shutting down\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(0);
}

static void sigreap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("criscope-test pause 3.9\n");
    return 0;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = sigdown;
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) return 1;
  sa.sa_handler = sigreap;
  sa.sa_flags = SA_NOCLDSTOP;
  if (sigaction(SIGCHLD, &sa, NULL) < 0) return 2;
  for (;;) pause();
  return 42;
}
C
gcc -Os -static -s -Wall -o "$work/pause-root/pause" "$work/pause-src/pause.c" 2>"$work/gcc.log" \
  || { cat "$work/gcc.log" >&2; die "could not compile pause.c statically (need gcc and libc6-dev)"; }
"$work/pause-root/pause" -v >/dev/null || die "compiled pause binary does not run"

umoci_ new --image "$layout:pause"
touch -h -d "$EPOCH" "$work/pause-root/pause" "$work/pause-root"
umoci_ insert --history.created "$CREATED" --history.created_by "criscope build-images.sh: pause" \
  --image "$layout:pause" "$work/pause-root/pause" /pause
umoci_ config --image "$layout:pause" --created "$CREATED" --history.created "$CREATED" \
  --author criscope-test --architecture amd64 --os linux \
  --config.entrypoint /pause --config.workingdir / \
  --config.env 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# ---------- busybox ----------
root="$work/busybox-root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,home,var/tmp,dev,proc,sys}
cp /bin/busybox "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
# one symlink per applet at its canonical path (what `busybox --install -s` does)
while read -r applet; do
  case "$applet" in ""|bin/busybox|linuxrc) continue ;; esac
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done < <(/bin/busybox --list-full)
for a in sh sleep echo cat ls id true false env ps; do
  [ -L "$root/bin/$a" ] || [ -L "$root/usr/bin/$a" ] || [ -L "$root/sbin/$a" ] || die "busybox lacks applet '$a'"
done
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 700 "$root/root"
cat >"$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat >"$root/etc/group" <<'G'
root:x:0:
daemon:x:1:
nogroup:x:65534:
G
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
find "$root" -exec touch -h -d "$EPOCH" {} +

umoci_ new --image "$layout:busybox"
umoci_ insert --history.created "$CREATED" --history.created_by "criscope build-images.sh: busybox-static $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)" \
  --image "$layout:busybox" "$root" /
umoci_ config --image "$layout:busybox" --created "$CREATED" --history.created "$CREATED" \
  --author criscope-test --architecture amd64 --os linux \
  --config.cmd sh --config.workingdir / \
  --config.env 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
umoci_ config --image "$layout:busybox" --tag busybox-pull-only --created "$CREATED" --history.created "$CREATED" \
  --config.label criscope.test.variant=pull-only
umoci_ gc --layout "$layout"

# ---------- archives for ctr import (ref.name = full image reference) ----------
ensure_skopeo_policy
mkdir -p "$work/archives"
for row in "${IMAGE_TABLE[@]}"; do
  IFS='|' read -r tag repo _ <<<"$row"
  skopeo_ copy -q "oci:$layout:$tag" "oci-archive:$work/archives/$tag.tar:$REGISTRY_HOST/$repo" >/dev/null \
    || die "skopeo could not write archive for $tag"
done

# ---------- swap into place ----------
rm -rf "$OCI_LAYOUT" "$IMAGES_DIR/archives" "$IMAGES_DIR/digests"
mv "$layout" "$OCI_LAYOUT"
mv "$work/archives" "$IMAGES_DIR/archives"
for row in "${IMAGE_TABLE[@]}"; do
  IFS='|' read -r tag _ _ <<<"$row"
  echo "$tag $(skopeo_ inspect --format '{{.Digest}}' "oci:$OCI_LAYOUT:$tag")"
done >"$IMAGES_DIR/digests.tmp"
mv "$IMAGES_DIR/digests.tmp" "$IMAGES_DIR/digests"
echo "$want_stamp" >"$STAMP"
summary=""
for row in "${IMAGE_TABLE[@]}"; do
  IFS='|' read -r tag _ _ <<<"$row"
  summary+=" $tag=$(layout_digest "$tag" | cut -c1-19)"
done
info "built images in $IMAGES_DIR:$summary"
