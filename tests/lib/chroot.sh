# shellcheck shell=bash
# A throw-away clean Debian 12 (bookworm) for the tests that install into one: a copy of the
# debootstrap minbase that scripts/offline-base-image.sh caches, made usable the way an installed
# system is (a resolver, /etc/hosts, proc, dev), removed again when the test exits.
#
# Source it from the repository's top directory (needs root), then:
#   chroot_make NAME         copy the base into /var/tmp/journey-NAME.XXXXXX; sets $work (scratch
#                            space outside the chroot) and $root (the chroot); installs an EXIT trap
#   chroot_apt_cache DIR     keep the .deb files apt downloads in DIR on the host, so that a second
#                            run does not download them again (they still go through apt)
#   in_root CMD...           run CMD inside, with a clean environment (root's HOME, C.UTF-8)
#   in_root_bg CMD...        the same in the background; $! is CMD's own PID (chroot and env exec
#                            it), so that the caller can stop it by PID
# CHROOT_KEEP=1 keeps the copy (its path is printed) instead of removing it.

chroot_mounted=()

chroot_cleanup() {
  local i
  for ((i = ${#chroot_mounted[@]} - 1; i >= 0; i--)); do umount -l "${chroot_mounted[i]}" 2>/dev/null || true; done
  # --one-file-system: never follow a mount that failed to detach into the host.
  if [ "${CHROOT_KEEP:-0}" = 1 ]; then echo "kept $root"; else rm -rf --one-file-system "$work"; fi
}

chroot_make() {
  local base m
  base=$(scripts/offline-base-image.sh --chroot-only) || return 1
  work=$(mktemp -d "/var/tmp/journey-$1.XXXXXX")
  root="$work/root"
  trap chroot_cleanup EXIT
  cp -a "$base" "$root"
  # The cached base keeps dpkg from installing man pages (as the slim image does); a user's
  # system does install them.
  rm -f "$root/etc/dpkg/dpkg.cfg.d/docker"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # debootstrap writes no /etc/hosts; every installed system has one naming localhost.
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  for m in proc dev dev/pts; do
    case $m in
      proc) mount -t proc proc "$root/proc" ;;
      *) mount --bind "/$m" "$root/$m" ;;
    esac
    chroot_mounted+=("$root/$m")
  done
}

chroot_apt_cache() {
  mkdir -p "$1/partial"
  mount --bind "$1" "$root/var/cache/apt/archives"
  chroot_mounted+=("$root/var/cache/apt/archives")
}

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
# In the background with $! the program's own PID (chroot and env exec it): a backgrounded shell
# function would be a subshell whose PID is not the server's, and killing it would leave the
# server running after the test.
in_root_bg() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@" & }
