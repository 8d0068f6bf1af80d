#!/usr/bin/env bash
# Package test: builds the Debian package (`make package` in a Release tree of its own, since the
# CI tree is built with sanitizers), installs it with apt into a clean bookworm chroot (the
# debootstrap minbase that scripts/offline-base-image.sh caches), and checks what a user would:
# lintian has no error or warning, the binaries are hardened, the Depends resolve, the user and
# files exist, `journey-lb --check-config /etc/journey/lb.conf`
# passes, the three installed programs serve one real HTTPS request together inside the chroot
# (on 127.0.0.1), `systemd-analyze verify` passes on both units, and remove/purge leave nothing.
#
#   tests/package/run.sh [--build-dir DIR] [--keep]
#
# Needs root (chroot, debootstrap) and the Debian mirror. Exit 77 (skip) when not root or when a
# program's source is not in the tree yet; every step prints what it checks.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)

build=build-package keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package test: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n== package: %s\n' "$*"; }
fail() { echo "package test: FAIL: $*" >&2; exit 1; }
skip() { echo "package test: SKIP: $*" >&2; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, dpkg inside it)"
for p in backend lb client; do
  [ -f "$p/CMakeLists.txt" ] || skip "$p/ is not in this tree yet: the package needs all three programs"
done
for tool in cpack dpkg-shlibdeps systemd-analyze debootstrap lintian readelf; do
  command -v "$tool" >/dev/null || skip "$tool not found: run scripts/install-deps.sh --package"
done

step "build a Release tree in $build and make the package"
mkdir -p "$build"
if ! { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DJOURNEY_TESTS=OFF &&
  cmake --build "$build" -j "${JOBS:-2}" &&
  rm -f "$build"/journey_*.deb && (cd "$build" && cpack -G DEB); } >"$build/package-build.log" 2>&1; then
  tail -30 "$build/package-build.log" >&2
  fail "building the package failed (log: $build/package-build.log)"
fi
version=$(sed -n 's/^project(journey VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
deb="$top/$build/journey_${version}_amd64.deb"
[ -f "$deb" ] || fail "cpack did not write journey_${version}_amd64.deb in $build"
echo "made $(basename "$deb") ($(stat -c %s "$deb") bytes)"
dpkg-deb -f "$deb" Package Version Architecture Depends

step "the package holds the three programs, the conffile, both units and the man pages"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/journey ./usr/bin/journey-backend ./usr/bin/journey-lb ./etc/journey/lb.conf \
  ./usr/lib/systemd/system/journey-lb.service ./usr/lib/systemd/system/journey-backend.service \
  ./usr/share/man/man1/journey.1.gz ./usr/share/man/man1/journey-backend.1.gz \
  ./usr/share/man/man8/journey-lb.8.gz; do
  grep -qx "$f" <<<"$contents" || fail "$f is missing from the package"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/journey/lb.conf ||
  fail "/etc/journey/lb.conf is not a conffile"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libssl3 libuv1 libc-ares2 libc6; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib (shlibdeps): $depends"
done
echo "ok: files, conffile, Depends: $depends"

step "lintian: no error and no warning"
if ! lintian --no-cfg --fail-on error,warning --display-info "$deb" >"$build/lintian.log" 2>&1; then
  cat "$build/lintian.log" >&2
  fail "lintian reported the errors or warnings above"
fi
grep -E '^[IP]: ' "$build/lintian.log" | sort | uniq -c || true
echo "ok: lintian $(lintian --version | awk '{print $2}'): no error, no warning"

step "hardening of the three programs: PIE, full RELRO (BIND_NOW), stack protector, FORTIFY"
hard=$(mktemp -d)
dpkg-deb -x "$deb" "$hard"
for p in journey journey-backend journey-lb; do
  bin="$hard/usr/bin/$p"
  readelf -h "$bin" | grep -q 'Type: *DYN' || fail "$p is not a position-independent executable"
  readelf -lW "$bin" | grep -q GNU_RELRO || fail "$p has no RELRO segment"
  readelf -dW "$bin" | grep -Eq 'BIND_NOW|FLAGS_1.*NOW' || fail "$p is not linked with -z now"
  syms=$(readelf --dyn-syms -W "$bin")
  grep -q '__stack_chk_fail' <<<"$syms" || fail "$p has no stack protector (-fstack-protector-strong)"
  grep -q '__[a-z_]*_chk@' <<<"$syms" || fail "$p calls no fortified function (-D_FORTIFY_SOURCE=2)"
  echo "ok: $p: PIE, RELRO, BIND_NOW, stack protector, $(grep -c '__[a-z_]*_chk@' <<<"$syms") fortified calls"
done
rm -rf "$hard"

step "a clean bookworm chroot (cached debootstrap minbase, copied)"
# shellcheck source=tests/lib/chroot.sh
. tests/lib/chroot.sh
CHROOT_KEEP=$keep
chroot_make package
cp "$deb" "$root/tmp/"

step "apt-get install ./$(basename "$deb") (the Depends must resolve from Debian's archive)"
in_root apt-get update -qq
if ! in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "/tmp/$(basename "$deb")" >"$work/apt.log" 2>&1; then
  tail -30 "$work/apt.log" >&2
  fail "apt-get install of the package failed (log above)"
fi
grep -E '^journey:|made a self-signed|edit /etc/journey' "$work/apt.log" || true
# shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
in_root dpkg-query -W -f='installed ${Package} ${Version} ${Status}\n' journey

step "what postinst made: user journey-lb, /etc/journey/tls with a key only that group reads"
in_root id journey-lb
in_root stat -c '%A %U:%G %n' /etc/journey /etc/journey/lb.conf /etc/journey/tls /etc/journey/tls/server.key /etc/journey/tls/server.crt
[ "$(in_root stat -c '%a %G' /etc/journey/tls/server.key)" = "640 journey-lb" ] ||
  fail "server.key should be mode 640, group journey-lb"

step "journey-lb --check-config /etc/journey/lb.conf (as the service user, like ExecStartPre)"
in_root setpriv --reuid=journey-lb --regid=journey-lb --init-groups \
  /usr/bin/journey-lb --config /etc/journey/lb.conf --check-config ||
  fail "journey-lb --check-config rejected the packaged /etc/journey/lb.conf"
bad="$root/tmp/bad.conf"
printf '[lb]\nlisten = https://0.0.0.0:443\nalgorithm = fastest\n' >"$bad"
if in_root /usr/bin/journey-lb --config /tmp/bad.conf --check-config 2>"$work/bad.err"; then
  fail "--check-config accepted an invalid config"
fi
echo "ok: an invalid config is refused: $(head -1 "$work/bad.err")"

step "the installed programs serve one HTTPS request together (127.0.0.1 only)"
for p in journey journey-backend; do in_root "/usr/bin/$p" --help >/dev/null || fail "$p --help failed"; done
in_root /usr/bin/journey-lb --help >/dev/null || fail "journey-lb --help failed"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bport=$(free_port) lport=$(free_port)
in_root_bg setpriv --reuid=nobody --regid=nogroup --clear-groups \
  /usr/bin/journey-backend --listen "127.0.0.1:$bport" --name pkg-b1 >"$work/backend.log" 2>&1
bpid=$!
# The packaged certificate and key, read as the service user; listener and backend on loopback.
in_root_bg setpriv --reuid=journey-lb --regid=journey-lb --init-groups \
  /usr/bin/journey-lb --listen "https://127.0.0.1:$lport" --cert /etc/journey/tls/server.crt \
  --key /etc/journey/tls/server.key --backend "pkg=127.0.0.1:$bport" --workers 1 >"$work/lb.log" 2>&1
lpid=$!
stop_servers() { kill -TERM "$lpid" "$bpid" 2>/dev/null || true; wait "$lpid" "$bpid" 2>/dev/null || true; }
ok=0
for _ in $(seq 1 50); do
  if in_root /usr/bin/journey --cacert /etc/journey/tls/ca.crt -o /tmp/body.json \
    "https://localhost:$lport/my-app/data" >"$work/journey.out" 2>&1; then
    ok=1
    break
  fi
  sleep 0.2
done
stop_servers
if [ "$ok" != 1 ]; then
  tail -n 20 "$work/journey.out" "$work/lb.log" "$work/backend.log" >&2
  fail "journey through the installed journey-lb to journey-backend failed"
fi
sed -n '/^5 TLS/,/^7 LB/p' "$work/journey.out"
grep -q '"backend":"pkg-b1"' "$root/tmp/body.json" || { cat "$root/tmp/body.json" >&2; fail "the body is not pkg-b1's JSON"; }
grep -q 'verify   ok' "$work/journey.out" || fail "journey did not verify the packaged certificate"
grep -q 'served by pkg' "$work/journey.out" || fail "journey did not see X-Served-By: pkg from the LB"
echo "ok: journey --cacert /etc/journey/tls/ca.crt https://localhost:$lport/my-app/data: verified TLS, LB served by pkg, body from pkg-b1"

step "systemd-analyze verify on the installed units"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd man-db >"$work/apt2.log" 2>&1 ||
  { tail -20 "$work/apt2.log" >&2; fail "installing systemd in the chroot (for systemd-analyze) failed"; }
units=(/usr/lib/systemd/system/journey-lb.service /usr/lib/systemd/system/journey-backend.service)
if ! in_root systemd-analyze verify "${units[@]}" >"$work/verify.log" 2>&1 || [ -s "$work/verify.log" ]; then
  cat "$work/verify.log" >&2
  fail "systemd-analyze verify reported the lines above"
fi
echo "ok: both units verify (binaries, man pages, directives)"
for u in "${units[@]}"; do
  echo "$(basename "$u"): $(in_root systemd-analyze security --offline=yes "$u" 2>/dev/null | tail -1)"
done

step "remove keeps the conffile, purge removes it and the certificates"
in_root dpkg -r journey >/dev/null
[ -f "$root/etc/journey/lb.conf" ] || fail "dpkg -r removed the conffile"
in_root dpkg -P journey >/dev/null
[ ! -e "$root/etc/journey" ] || fail "dpkg -P left /etc/journey: $(ls -la "$root/etc/journey")"
echo "ok"

printf '\npackage test: PASS (%s)\n' "$(basename "$deb")"
