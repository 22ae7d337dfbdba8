# shellcheck shell=bash disable=SC2034  # the variables are used by the scripts that source this
# Shared settings and helpers for the criscope private test runtime.
# Sourced by the scripts in this directory; not meant to be run directly.
#
# Everything lives under two private trees, so nothing here touches a system
# containerd/registry that may also exist on the machine:
#   $CRISCOPE_TEST_DATA_DIR  (default /var/lib/criscope-test)  persistent: images, registry storage, containerd root
#   $CRISCOPE_TEST_STATE_DIR (default /run/criscope-test)      runtime: socket, pidfiles, logs, configs, env file
# A second, independent instance on the same machine also needs its own
# CRISCOPE_TEST_REGISTRY_PORT (default 5055), CRISCOPE_TEST_CNI_BRIDGE (criscope0)
# and CRISCOPE_TEST_CNI_SUBNET (10.254.77.0/24). CRISCOPE_TEST_SNAPSHOTTER forces
# overlayfs or native.

TR_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

STATE_DIR="${CRISCOPE_TEST_STATE_DIR:-/run/criscope-test}"
DATA_DIR="${CRISCOPE_TEST_DATA_DIR:-/var/lib/criscope-test}"
REGISTRY_PORT="${CRISCOPE_TEST_REGISTRY_PORT:-5055}"
REGISTRY_ADDR="127.0.0.1:${REGISTRY_PORT}"
REGISTRY_HOST="registry.criscope.test"   # fictitious; containerd mirrors it to $REGISTRY_ADDR
# pod network (non-host-network pods only); change both for a second instance on one machine
CNI_BRIDGE="${CRISCOPE_TEST_CNI_BRIDGE:-criscope0}"
CNI_SUBNET="${CRISCOPE_TEST_CNI_SUBNET:-10.254.77.0/24}"

IMAGES_DIR="$DATA_DIR/images"            # OCI layout cache (build-images.sh)
OCI_LAYOUT="$IMAGES_DIR/oci"
REGISTRY_DATA="$DATA_DIR/registry"
CTRD_ROOT="$DATA_DIR/containerd"
CNI_BIN_DIR="$DATA_DIR/cni/bin"
CNI_CONF_DIR="$DATA_DIR/cni/net.d"
CERTS_DIR="$DATA_DIR/certs.d"            # containerd registry hosts config (config_path)

CTRD_STATE="$STATE_DIR/containerd"
CTRD_SOCK="$STATE_DIR/containerd.sock"
CTRD_CONFIG="$STATE_DIR/config/containerd.toml"
CTRD_PIDFILE="$STATE_DIR/containerd.pid"
CTRD_LOG="$STATE_DIR/logs/containerd.log"
RUNC_ROOT="$STATE_DIR/runc"              # private runc state (default would be /run/containerd/runc)
REG_CONFIG="$STATE_DIR/config/registry.yml"
REG_PIDFILE="$STATE_DIR/registry.pid"
REG_LOG="$STATE_DIR/logs/registry.log"
SKOPEO_POLICY="$STATE_DIR/config/policy.json"
ENV_FILE="$STATE_DIR/env"
LOCK_FILE="$STATE_DIR/.lock"

# name:tag in the OCI layout  ->  repository:tag in the registry / containerd
PAUSE_REPO="criscope-test/pause";   PAUSE_TAG="3.9"
BUSYBOX_REPO="criscope-test/busybox"; BUSYBOX_TAG="1.35"
PULL_ONLY_TAG="pull-only"
PAUSE_IMAGE="$REGISTRY_HOST/$PAUSE_REPO:$PAUSE_TAG"
BUSYBOX_IMAGE="$REGISTRY_HOST/$BUSYBOX_REPO:$BUSYBOX_TAG"
PULL_ONLY_IMAGE="$REGISTRY_HOST/$BUSYBOX_REPO:$PULL_ONLY_TAG"
# layout tag | registry repo:tag | imported into containerd?
IMAGE_TABLE=(
  "pause|$PAUSE_REPO:$PAUSE_TAG|yes"
  "busybox|$BUSYBOX_REPO:$BUSYBOX_TAG|yes"
  "busybox-pull-only|$BUSYBOX_REPO:$PULL_ONLY_TAG|no"
)

TR_NAME="$(basename "$0")"

die()  { echo "$TR_NAME: error: $*" >&2; exit 1; }
warn() { echo "$TR_NAME: warning: $*" >&2; }
info() { [ -n "${CRISCOPE_TEST_QUIET:-}" ] || echo "$TR_NAME: $*"; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (containerd needs it)"; }

need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' not found; run $TR_DIR/install.sh first"
  done
}

# Take the global lock (fd 9). Re-entrant across our own scripts via TR_LOCKED.
# Daemons must be started with 9>&- so they never inherit it.
take_lock() {
  [ -n "${TR_LOCKED:-}" ] && return 0
  mkdir -p "$STATE_DIR"
  exec 9>"$LOCK_FILE"
  flock -w 300 9 || die "timed out waiting for lock $LOCK_FILE"
  export TR_LOCKED=1
}

# pid_alive PIDFILE MATCH -> prints pid and returns 0 if the pidfile names a
# live process whose command line contains MATCH (guards against pid reuse).
pid_alive() {
  local pidfile="$1" match="$2" pid
  [ -s "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$match" || return 1
  # a zombie is not alive
  [ "$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ] || return 1
  echo "$pid"
}

# wait_gone PID SECONDS -> 0 once the process is gone
wait_gone() {
  local pid="$1" secs="$2" i
  for ((i = 0; i < secs * 10; i++)); do
    [ -d "/proc/$pid" ] || return 0
    [ "$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null)" = Z ] && return 0
    sleep 0.1
  done
  return 1
}

ctr_() { ctr --address "$CTRD_SOCK" "$@"; }

ctrd_answers() { timeout 5 ctr --address "$CTRD_SOCK" --timeout 3s version >/dev/null 2>&1; }

# start a daemon detached from us: own session, no inherited stdio or lock fd
# spawn_daemon PIDFILE LOGFILE CMD...
# await_daemon CHECK PID SECONDS LOG NAME WHERE: waits until CHECK succeeds; dies with the log's tail
# if the daemon exits first or does not answer in time
await_daemon() {
  local check="$1" pid="$2" seconds="$3" log="$4" name="$5" where="$6" i
  for ((i = 0; i < seconds * 10; i++)); do
    if "$check"; then return 0; fi
    if ! [ -d "/proc/$pid" ]; then
      tail -n 25 "$log" >&2
      die "$name exited during startup $where (log: $log)"
    fi
    sleep 0.1
  done
  tail -n 25 "$log" >&2
  die "$name (pid $pid) did not answer $where within ${seconds}s (log: $log)"
}

spawn_daemon() {
  local pidfile="$1" log="$2"; shift 2
  mkdir -p "$(dirname "$log")" "$(dirname "$pidfile")"
  setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
  echo $! >"$pidfile"
}

# skopeo needs a signature policy; use our own instead of /etc/containers/policy.json
ensure_skopeo_policy() {
  mkdir -p "$(dirname "$SKOPEO_POLICY")"
  [ -s "$SKOPEO_POLICY" ] || echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$SKOPEO_POLICY"
}
skopeo_() { ensure_skopeo_policy; skopeo --policy "$SKOPEO_POLICY" "$@"; }

# digest of the manifest a tag points at in the OCI layout cache
# (build-images.sh records them in $IMAGES_DIR/digests; skopeo is the slow fallback)
layout_digest() {
  local d=""
  [ -s "$IMAGES_DIR/digests" ] && d="$(awk -v t="$1" '$1==t{print $2}' "$IMAGES_DIR/digests")"
  [ -n "$d" ] || d="$(skopeo_ inspect --format '{{.Digest}}' "oci:$OCI_LAYOUT:$1")"
  echo "$d"
}

# ---------------------------------------------------------------- snapshotter
# overlayfs if the kernel lets us mount it on the data dir's filesystem, else native.
# Override with CRISCOPE_TEST_SNAPSHOTTER=overlayfs|native. Cached per boot.
pick_snapshotter() {
  if [ -n "${CRISCOPE_TEST_SNAPSHOTTER:-}" ]; then echo "$CRISCOPE_TEST_SNAPSHOTTER"; return; fi
  local cache="$STATE_DIR/snapshotter" p
  if [ -s "$cache" ]; then cat "$cache"; return; fi
  mkdir -p "$DATA_DIR" "$STATE_DIR"
  p="$(mktemp -d "$DATA_DIR/.overlay-probe.XXXXXX")"
  mkdir -p "$p"/{l1,l2,u,w,m}
  local snap=native
  if mount -t overlay overlay -o "lowerdir=$p/l1:$p/l2,upperdir=$p/u,workdir=$p/w" "$p/m" 2>/dev/null; then
    snap=overlayfs
    umount "$p/m" || umount -l "$p/m" || true
  fi
  rm -rf "$p"
  echo "$snap" >"$cache"
  echo "$snap"
}

# ---------------------------------------------------------------- configs
render_containerd_config() {
  local snap="$1"
  cat <<TOML
# Generated by criscope scripts/test-runtime (lib.sh); do not edit.
version = 2
root = "$CTRD_ROOT"
state = "$CTRD_STATE"
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "$CTRD_SOCK"

[ttrpc]
  address = "$CTRD_SOCK.ttrpc"

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD_ROOT/opt"

[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "$RUNC_ROOT-v1"
  state = "$CTRD_STATE/io.containerd.runtime.v1.linux"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # pods fail to start without it here: the kernel refuses a negative oom_score_adj
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  enable_tls_streaming = false
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "$snap"
    default_runtime_name = "runc"
    disable_snapshot_annotations = true

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc || echo /usr/sbin/runc)"
        # private runc state dir (default /run/containerd/runc is shared with a system containerd)
        Root = "$RUNC_ROOT"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$CNI_CONF_DIR"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    # hosts.toml per registry: $REGISTRY_HOST -> http://$REGISTRY_ADDR
    config_path = "$CERTS_DIR"
TOML
}

render_registry_config() {
  cat <<YAML
# Generated by criscope scripts/test-runtime (lib.sh); do not edit.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REGISTRY_DATA
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
YAML
}

# write $2 to file $1 only if different; returns 0 if it changed
write_if_changed() {
  local file="$1" content="$2"
  if [ -f "$file" ] && [ "$(cat "$file")" = "$content" ]; then return 1; fi
  mkdir -p "$(dirname "$file")"
  printf '%s\n' "$content" >"$file.tmp.$$"
  mv -f "$file.tmp.$$" "$file"
  return 0
}

write_support_files() {
  [ -z "${TR_SUPPORT_WRITTEN:-}" ] || return 0
  TR_SUPPORT_WRITTEN=1
  mkdir -p "$CTRD_ROOT" "$CTRD_STATE" "$RUNC_ROOT" "$CNI_BIN_DIR" "$CNI_CONF_DIR" \
           "$DATA_DIR/cni/ipam" "$STATE_DIR/logs" "$STATE_DIR/config" "$REGISTRY_DATA"
  # CNI: private bin dir (symlinks to Debian's plugins) and one bridge network.
  # isGateway=false: the bridge gets no address and IP forwarding is left alone,
  # so pods get an IP but no route off their bridge (tests use host-network pods).
  local p
  for p in bridge host-local loopback portmap; do
    [ -x "/usr/lib/cni/$p" ] || die "/usr/lib/cni/$p missing; run $TR_DIR/install.sh"
    ln -sfn "/usr/lib/cni/$p" "$CNI_BIN_DIR/$p"
  done
  write_if_changed "$CNI_CONF_DIR/10-criscope-test.conflist" "{
  \"cniVersion\": \"0.4.0\",
  \"name\": \"criscope-test\",
  \"plugins\": [
    {
      \"type\": \"bridge\",
      \"bridge\": \"$CNI_BRIDGE\",
      \"isGateway\": false,
      \"ipMasq\": false,
      \"hairpinMode\": true,
      \"ipam\": {
        \"type\": \"host-local\",
        \"dataDir\": \"$DATA_DIR/cni/ipam\",
        \"ranges\": [[{ \"subnet\": \"$CNI_SUBNET\" }]]
      }
    }
  ]
}" || true
  local h
  for h in "$REGISTRY_HOST" "$REGISTRY_ADDR"; do
    write_if_changed "$CERTS_DIR/$h/hosts.toml" "# Generated by criscope scripts/test-runtime; plain-HTTP mirror on loopback
server = \"http://$REGISTRY_ADDR\"

[host.\"http://$REGISTRY_ADDR\"]
  capabilities = [\"pull\", \"resolve\"]
  skip_verify = true" || true
  done
  write_if_changed "$REG_CONFIG" "$(render_registry_config)" || true
  ensure_skopeo_policy
}

# ---------------------------------------------------------------- containerd
ctrd_pid() { pid_alive "$CTRD_PIDFILE" "$CTRD_CONFIG"; }

ctrd_start() {
  local snap pid
  snap="$(pick_snapshotter)"
  write_support_files
  write_if_changed "$CTRD_CONFIG" "$(render_containerd_config "$snap")" || true
  if pid="$(ctrd_pid)"; then
    if ctrd_answers; then return 0; fi
  else
    # refuse to start a second daemon on a socket someone else answers on
    if [ -S "$CTRD_SOCK" ] && ctrd_answers; then
      die "something not started by these scripts answers on $CTRD_SOCK"
    fi
    rm -f "$CTRD_SOCK" "$CTRD_SOCK.ttrpc" "$CTRD_PIDFILE"
    mkdir -p "$(dirname "$CTRD_LOG")"
    echo "=== $(date -Is) starting containerd ($snap)" >>"$CTRD_LOG"
    spawn_daemon "$CTRD_PIDFILE" "$CTRD_LOG" containerd --config "$CTRD_CONFIG"
    pid="$(cat "$CTRD_PIDFILE")"
  fi
  await_daemon ctrd_answers "$pid" 30 "$CTRD_LOG" "containerd" "on $CTRD_SOCK"
}

ctrd_stop() {
  local pid
  if pid="$(ctrd_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 20; then
      warn "containerd (pid $pid) ignored SIGTERM for 20s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 10 || die "containerd (pid $pid) does not die"
    fi
  fi
  rm -f "$CTRD_PIDFILE" "$CTRD_SOCK" "$CTRD_SOCK.ttrpc"
  [ ! -e "$CTRD_SOCK" ] || die "could not remove $CTRD_SOCK"
}

# cri plugin must be loaded ("ok"), otherwise say why
ctrd_check_cri() {
  local line
  line="$(ctr_ plugins ls 2>/dev/null | awk '$1=="io.containerd.grpc.v1" && $2=="cri"{print $NF}')"
  if [ "$line" != ok ]; then
    grep -iE 'cri|error' "$CTRD_LOG" | tail -n 15 >&2 || true
    die "containerd's cri plugin is not ok (state: '${line:-absent}'; log: $CTRD_LOG)"
  fi
}

# ---------------------------------------------------------------- registry
reg_pid() { pid_alive "$REG_PIDFILE" "$REG_CONFIG"; }
reg_answers() { curl -fsS -o /dev/null --max-time 3 "http://$REGISTRY_ADDR/v2/" 2>/dev/null; }

reg_start() {
  local pid
  write_support_files
  if pid="$(reg_pid)" && reg_answers; then return 0; fi
  if [ -z "${pid:-}" ]; then
    if reg_answers; then die "something not started by these scripts answers on http://$REGISTRY_ADDR"; fi
    echo "=== $(date -Is) starting docker-registry" >>"$REG_LOG"
    spawn_daemon "$REG_PIDFILE" "$REG_LOG" docker-registry serve "$REG_CONFIG"
    pid="$(cat "$REG_PIDFILE")"
  fi
  await_daemon reg_answers "$pid" 15 "$REG_LOG" "docker-registry" "on http://$REGISTRY_ADDR (port $REGISTRY_PORT busy?)"
}

reg_stop() {
  local pid
  if pid="$(reg_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
  fi
  rm -f "$REG_PIDFILE"
}

# digest the registry serves for repo:tag (empty if none)
reg_digest() {
  local repo="${1%:*}" tag="${1##*:}"
  curl -fsS --max-time 5 -o /dev/null -D - \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -I "http://$REGISTRY_ADDR/v2/$repo/manifests/$tag" 2>/dev/null \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'
}
