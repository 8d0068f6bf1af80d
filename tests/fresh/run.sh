#!/usr/bin/env bash
# Fresh-machine test: `make test` as the first command on a clean Debian 12 installs what it needs.
#
# A copy of this working tree (tracked and untracked files, nothing git ignores: no build trees,
# no certificates) goes into a clean bookworm chroot (the debootstrap minbase that the package test
# also uses, tests/lib/chroot.sh) where nothing but `make` is installed, the one prerequisite the
# README states. There, as root, it runs
#     make test CTEST_FLAGS="-L unit"
# and checks what a new user would: the dependency step installed the build and test groups of
# scripts/install-deps.sh through apt inside the chroot (c-ares, the package CMake could not find
# before, among them), CMake configured, the three programs and every test binary built, and the
# unit tests passed. It does not run the integration suite inside the chroot (CI runs that on the
# host); it proves the path from a clean system to a built tree that `ctest` can run.
#
#   tests/fresh/run.sh [--keep]
#
# Needs root (chroot, mounts) and the Debian mirror (or JOURNEY_DEBIAN_MIRROR). Downloaded .deb files
# are kept in ${JOURNEY_CACHE:-/var/cache/journey}/fresh-apt so a second run does not fetch them
# again; they are still installed by apt inside the chroot. Exit 77 (skip) when not root or when
# debootstrap is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)

keep=0
case "${1:-}" in
  --keep) keep=1 ;;
  -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "fresh-machine test: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

step() { printf '\n== fresh: %s\n' "$*"; }
fail() { echo "fresh-machine test: FAIL: $*" >&2; exit 1; }
skip() { echo "fresh-machine test: SKIP: $*" >&2; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (chroot, mounts, apt-get inside the chroot)"
command -v debootstrap >/dev/null || skip "debootstrap not found: run scripts/install-deps.sh --package"

step "a clean bookworm chroot (cached debootstrap minbase, copied)"
# shellcheck source=tests/lib/chroot.sh
. tests/lib/chroot.sh
CHROOT_KEEP=$keep
chroot_make fresh
trap 'exit 143' TERM INT # so that the EXIT trap unmounts and removes the copy
chroot_apt_cache "${JOURNEY_CACHE:-/var/cache/journey}/fresh-apt"
# shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
installed() { in_root dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for pkg in libc-ares-dev cmake gcc; do
  if installed "$pkg"; then
    fail "$pkg is already installed in the base: it is not a fresh system"
  fi
done
echo "ok: no compiler, no CMake, no c-ares in the chroot"

step "the source tree, as a clone has it, into /root/journey"
mkdir -p "$root/root/journey"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$top" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$root/root/journey" -xf -
else
  tar --exclude='./build*' --exclude=./certs/out -cf - . | tar -C "$root/root/journey" -xf -
fi
echo "copied $(find "$root/root/journey" -type f | wc -l) files"

step "the README's prerequisite: apt-get install make"
in_root apt-get update -qq || fail "apt-get update failed inside the chroot: check the Debian mirror"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >"$work/make.log" 2>&1 ||
  { tail -20 "$work/make.log" >&2; fail "installing make failed"; }
in_root make --version | sed -n 1p # sed reads it all: no SIGPIPE under pipefail

step 'make test CTEST_FLAGS="-L unit" (as the first command; its log: '"$work"'/make-test.log)'
start=$(date +%s)
rc=0
in_root bash -c "cd /root/journey && make test JOBS=${JOBS:-2} CTEST_FLAGS='-L unit'" >"$work/make-test.log" 2>&1 || rc=$?
took=$(($(date +%s) - start))
grep -E '^install-deps:|^-- (Found|Checking)|tests passed|tests failed' "$work/make-test.log" | head -40 || true
if [ "$rc" != 0 ]; then
  tail -40 "$work/make-test.log" >&2
  CHROOT_KEEP=1
  fail "make test exited $rc after ${took}s (log above; the chroot is kept)"
fi

step "what make test did"
grep -q '^install-deps: installed ' "$work/make-test.log" ||
  fail "make test did not install the dependencies (no 'install-deps: installed' line)"
for pkg in libc-ares-dev libuv1-dev libssl-dev cmake gcc dnsmasq-base; do
  installed "$pkg" ||
    fail "$pkg is not installed after make test"
done
echo "ok: the dependency step installed the build and test groups through apt (c-ares among them)"
for b in client/journey lb/journey-lb backend/journey-backend; do
  [ -x "$root/root/journey/build/$b" ] || fail "build/$b was not built"
done
in_root /root/journey/build/lb/journey-lb --help >/dev/null || fail "the built journey-lb does not run"
echo "ok: build/client/journey, build/lb/journey-lb, build/backend/journey-backend built and run"
summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$work/make-test.log" | tail -1)
[ -n "$summary" ] || fail "ctest printed no summary"
case "$summary" in
  "100% tests passed, 0 tests failed out of 0") fail "ctest ran no unit test" ;;
  "100% tests passed"*) echo "ok: $summary" ;;
  *) fail "unit tests: $summary" ;;
esac

printf '\nfresh-machine test: PASS (make test from a clean bookworm with only make installed: %ss)\n' "$took"
