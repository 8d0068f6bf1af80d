#!/usr/bin/env bash
# Makes the base image the Dockerfiles build FROM (debian:bookworm-slim) on a host that cannot
# reach Docker Hub: debootstrap a minimal bookworm from the Debian mirror, trim it the way the
# official -slim image is trimmed, and `docker import` it under that tag.
#
#   scripts/offline-base-image.sh [--tag debian:bookworm-slim] [--mirror URL] [--force] [--no-pull]
#   scripts/offline-base-image.sh --chroot-only    only make the cached chroot, print its path
#
# Does nothing when the tag is already present (unless --force). Otherwise it first tries a normal
# `docker pull` (a real user's machine gets the official image); only when that fails does it
# debootstrap. Needs root, debootstrap (scripts/install-deps.sh --docker) and a running dockerd.
# The chroot is cached in ${JOURNEY_CACHE:-/var/cache/journey}/bookworm-minbase so that a second
# run (a fresh docker data root, CI) takes seconds.
set -euo pipefail

tag=debian:bookworm-slim
mirror=${JOURNEY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
force=0 pull=1 chroot_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --mirror) mirror="$2"; shift 2 ;;
    --force) force=1; shift ;;
    --no-pull) pull=0; shift ;;
    --chroot-only) chroot_only=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "offline-base-image: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# --chroot-only prints the path on stdout: messages go to stderr then.
say() { if [ "$chroot_only" = 1 ]; then echo "offline-base-image: $*" >&2; else echo "offline-base-image: $*"; fi; }
die() { echo "offline-base-image: $*" >&2; exit 1; }

if [ "$chroot_only" = 0 ]; then
  command -v docker >/dev/null || die "docker not found: run scripts/install-deps.sh --docker"
  docker info >/dev/null 2>&1 || die "cannot talk to dockerd (docker info failed): start it (tests/compose/smoke.sh does) or check /var/run/docker.sock"

  if [ "$force" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    say "$tag is present; nothing to do"
    exit 0
  fi

  if [ "$force" = 0 ] && [ "$pull" = 1 ]; then
    say "trying docker pull $tag"
    if timeout 60 docker pull -q "$tag" >/dev/null 2>&1; then
      say "pulled $tag from the registry"
      exit 0
    fi
    say "the registry cannot be reached; building $tag locally with debootstrap"
  fi
fi

[ "$(id -u)" = 0 ] || die "debootstrap needs root: run as root (or with sudo)"
command -v debootstrap >/dev/null || die "debootstrap not found: run scripts/install-deps.sh --docker"

cache=${JOURNEY_CACHE:-/var/cache/journey}
root="$cache/bookworm-minbase"
# Tests that run at the same time (the package test, the fresh-machine test) share this cache:
# one makes it, the others wait for it rather than debootstrapping over each other.
mkdir -p "$cache"
exec 9>"$cache/.bookworm-minbase.lock"
flock 9
if [ "$force" = 1 ] || ! [ -x "$root/usr/bin/apt-get" ] || ! [ -f "$root/.journey-complete" ]; then
  rm -rf "$root"
  mkdir -p "$cache"
  say "debootstrap --variant=minbase bookworm $root $mirror (a few minutes the first time)"
  if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    tail -20 "$cache/debootstrap.log" >&2
    die "debootstrap failed (full log: $cache/debootstrap.log): check that $mirror is reachable"
  fi
  # What the official bookworm-slim image does: one sources file with updates and security,
  # no apt lists or caches, and dpkg told not to install documentation.
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${mirror}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/* "$root"/usr/share/doc/*/changelog* "$root"/usr/share/man/* "$root"/usr/share/info/*
  : >"$root/etc/machine-id"
  touch "$root/.journey-complete"
fi

if [ "$chroot_only" = 1 ]; then
  echo "$root"
  exit 0
fi
say "docker import $root as $tag"
# Left out of the image as the official -slim one leaves them out (the cached chroot keeps them
# for tests/package): translations, documentation except copyright files, apt caches.
tar --numeric-owner --exclude=./.journey-complete --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' \
  --exclude='./usr/share/locale/*' --exclude='./usr/share/man/*' --exclude='./usr/share/info/*' \
  --exclude='./var/cache/apt/*' --exclude='./var/lib/apt/lists/*' --exclude='./var/log/*' \
  --wildcards --exclude='./usr/share/doc/*/[!c]*' \
  -C "$root" -c . |
  docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --message "debian bookworm minbase by scripts/offline-base-image.sh" - "$tag" >/dev/null
say "made $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
