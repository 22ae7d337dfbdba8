#!/usr/bin/env bash
# Bring up the private, real container runtime for criscope's tests:
#   install.sh -> build-images.sh -> docker-registry on 127.0.0.1:$PORT with the
#   test images -> private containerd (CRI, runc, mirror for registry.criscope.test)
#   with the pause and busybox images imported into its k8s.io namespace
#   -> env file $STATE_DIR/env for the tests.
# Idempotent and quick when everything is already up.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
t0=$(date +%s.%N)

take_lock
# install.sh + build-images.sh are skipped when a previous up.sh on this boot
# ran them with the same scripts and the image cache is still there
up_stamp="$(cat "$TR_DIR"/{lib,up,install,build-images}.sh | sha256sum | cut -c1-64)"
if [ "$(cat "$STATE_DIR/up.stamp" 2>/dev/null)" != "$up_stamp" ] || ! [ -s "$IMAGES_DIR/digests" ]; then
  rm -f "$STATE_DIR/up.stamp"
  CRISCOPE_TEST_QUIET=1 bash "$TR_DIR/install.sh"
  CRISCOPE_TEST_QUIET=1 bash "$TR_DIR/build-images.sh"
fi
need_cmd containerd ctr runc docker-registry skopeo curl

# ---- registry + images in it
reg_start
pushed=0
for row in "${IMAGE_TABLE[@]}"; do
  IFS='|' read -r tag repo _ <<<"$row"
  want="$(layout_digest "$tag")" || die "cannot read image '$tag' from $OCI_LAYOUT"
  if [ "$(reg_digest "$repo")" != "$want" ]; then
    skopeo_ copy -q --dest-tls-verify=false --preserve-digests \
      "oci:$OCI_LAYOUT:$tag" "docker://$REGISTRY_ADDR/$repo" >/dev/null 2>"$STATE_DIR/logs/skopeo.err" \
      || { cat "$STATE_DIR/logs/skopeo.err" >&2; die "pushing $repo to $REGISTRY_ADDR failed"; }
    got="$(reg_digest "$repo")"
    [ "$got" = "$want" ] || die "registry serves $repo as '$got', expected $want"
    pushed=$((pushed + 1))
  fi
done

# ---- containerd (restart if its config changed underneath a running one)
snap="$(pick_snapshotter)"
write_support_files
if ctrd_pid >/dev/null && ! [ "$(cat "$CTRD_CONFIG" 2>/dev/null)" = "$(render_containerd_config "$snap")" ]; then
  warn "containerd config changed; restarting it"
  ctrd_stop
fi
ctrd_start
ctrd_check_cri

# ---- images in containerd's k8s.io namespace
ctr_img_digest() { ctr_ -n k8s.io images ls "name==$1" 2>/dev/null | awk 'NR>1{print $3}'; }
imported=0
for row in "${IMAGE_TABLE[@]}"; do
  IFS='|' read -r tag repo import <<<"$row"
  ref="$REGISTRY_HOST/$repo"
  if [ "$import" = yes ]; then
    want="$(layout_digest "$tag")"
    if [ "$(ctr_img_digest "$ref")" != "$want" ]; then
      ctr_ -n k8s.io images import --snapshotter "$snap" "$IMAGES_DIR/archives/$tag.tar" \
        >"$STATE_DIR/logs/import.out" 2>&1 \
        || { cat "$STATE_DIR/logs/import.out" >&2; die "ctr images import of $ref failed"; }
      [ "$(ctr_img_digest "$ref")" = "$want" ] || die "after import containerd has no $ref@$want"
      imported=$((imported + 1))
    fi
  else
    # keep the invariant: present in the registry, absent from containerd
    if [ -n "$(ctr_img_digest "$ref")" ]; then
      ctr_ -n k8s.io images rm "$ref" >/dev/null || die "could not remove $ref from containerd"
    fi
  fi
done

# ---- env file for the tests
env_content="CRISCOPE_TEST_CONTAINERD_SOCK=$CTRD_SOCK
CRISCOPE_TEST_REGISTRY_HOST=$REGISTRY_HOST
CRISCOPE_TEST_REGISTRY_ADDR=$REGISTRY_ADDR
CRISCOPE_TEST_PAUSE_IMAGE=$PAUSE_IMAGE
CRISCOPE_TEST_BUSYBOX_IMAGE=$BUSYBOX_IMAGE
CRISCOPE_TEST_PULL_ONLY_IMAGE=$PULL_ONLY_IMAGE
CRISCOPE_TEST_MISSING_IMAGE=$REGISTRY_HOST/criscope-test/does-not-exist:1.0
CRISCOPE_TEST_STATE_DIR=$STATE_DIR
CRISCOPE_TEST_DATA_DIR=$DATA_DIR
CRISCOPE_TEST_RUNTIME_HANDLER=runc
CRISCOPE_TEST_SNAPSHOTTER=$snap
CRISCOPE_TEST_CNI_CONF_DIR=$CNI_CONF_DIR
CRISCOPE_TEST_CONTAINERD_CTL=$TR_DIR/containerd.sh
CRISCOPE_TEST_CONTAINERD_LOG=$CTRD_LOG"
write_if_changed "$ENV_FILE" "$env_content" || true
echo "$up_stamp" >"$STATE_DIR/up.stamp"

t1=$(date +%s.%N)
info "up in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s: containerd pid $(ctrd_pid) ($snap) on $CTRD_SOCK, registry pid $(reg_pid) on $REGISTRY_ADDR, pushed $pushed, imported $imported; env in $ENV_FILE"
