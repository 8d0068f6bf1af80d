#!/usr/bin/env bash
# Installs what journey needs, on Debian/Ubuntu with apt-get. Idempotent: skips what is present.
#
#   scripts/install-deps.sh [--build] [--test] [--bench] [--docker] [--package] [--all] [--dry-run]
#
# Groups (default: --build --test):
#   build    compiler, CMake and the libraries journey links against
#   test     what the tests and `make demo` run: a real DNS server, curl, iproute2, ...
#   bench    the peers and load generators of the benchmarks (haproxy, nginx, wrk, h2load, gnuplot)
#   docker   dockerd, compose and debootstrap for tests/compose/smoke.sh (docker compose up)
#   package  what `make package` and tests/package/run.sh need (shlibdeps, a chroot, systemd-analyze)
#            and shellcheck for deploy/ (cloud-init schema runs in a chroot, not on the host)
# Other distributions: prints the equivalent package names and exits 1 (no guessing).
set -euo pipefail

want_build=0 want_test=0 want_bench=0 want_docker=0 want_package=0 dry=0
for a in "$@"; do
  case "$a" in
    --build) want_build=1 ;;
    --test) want_test=1 ;;
    --bench) want_bench=1 ;;
    --docker) want_docker=1 ;;
    --package) want_package=1 ;;
    --all) want_build=1 want_test=1 want_bench=1 want_docker=1 want_package=1 ;;
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done
[ $((want_build + want_test + want_bench + want_docker + want_package)) = 0 ] && want_build=1 want_test=1

# package:why, per group
build_pkgs=(
  "gcc:C compiler" "make:build driver" "cmake:build system (>= 3.25)" "pkg-config:finds the libraries"
  "libssl-dev:OpenSSL 3 (TLS)" "libc-ares-dev:c-ares (asynchronous DNS)" "libuv1-dev:libuv (event loop)"
  "node-llhttp:llhttp C sources (HTTP parser)" "libinih-dev:INI config parser for journey-lb"
  "libmnl-dev:netlink helper (client route/neighbour look-ups)" "zlib1g-dev:gzip decoding in the client"
  "libcmocka-dev:unit test framework" "openssl:certificate script" "clang:fuzzing and sanitizers"
  "libclang-rt-14-dev:libFuzzer and sanitizer runtimes for clang"
  "libnghttp2-dev:HTTP/2 framing, HPACK and flow control (journey-lb, journey)"
  "libwslay-dev:WebSocket framing for journey-backend's echo endpoint"
  "libbrotli-dev:brotli decoding in the client (--compressed)"
)
test_pkgs=(
  "dnsmasq-base:real DNS server for the demo and tests" "curl:HTTPS client used by tests and users"
  "iproute2:ip/ss for tests and the scenario" "iptables:NAT in the scenario" "tcpdump:packet captures in the scenario"
  "python3:test helpers" "procps:ps/pkill-free process checks" "psmisc:fuser in tests" "valgrind:leak checks"
  "wrk:bounded load in the backend-fault tests (tests/integration/backend_faults.py)"
  "testssl.sh:TLS scanner run against journey-lb's HTTPS listener (tests/integration/tls_abuse.py)"
  "python3-h2:HTTP/2 conformance scripts (Debian's Python: /usr/bin/python3)"
  "python3-h11:independent strict HTTP/1.1 parser for the request-integrity checks"
  "python3-websockets:WebSocket tests through the load balancer"
  "nghttp2-client:nghttp and h2load for the HTTP/2 tests"
  "nghttp2-server:nghttpd, a real HTTP/2 server for the client's HTTP/2 tests"
  "chromium:headless browser for the page, WebSocket and HTTP/2 tests"
  "jq:JSON on the command line: the README's /stats and --json examples, run by its test"
)
bench_pkgs=(
  "haproxy:peer load balancer" "nginx-light:peer load balancer and static backend" "wrk:HTTP load generator"
  "nghttp2-client:h2load (fixed-rate latency)" "gnuplot-nox:benchmark plots" "hyperfine:command timing"
  "linux-perf:profiles" "util-linux:taskset" "valgrind:callgrind instruction counts (bench)"
  "strace:system calls per request (bench)" "python3:bench ports and report" "curl:bench readiness checks"
)
docker_pkgs=(
  "docker.io:dockerd (20.10) and its client for docker compose up"
  "containerd:container runtime dockerd drives" "runc:OCI runtime under containerd"
  "iptables:dockerd's bridge network and published ports (NAT)"
  "docker-compose:compose v1 (1.29), used when the docker compose v2 plugin is absent"
  "debootstrap:scripts/offline-base-image.sh builds debian:bookworm-slim without Docker Hub"
  "curl:the smoke test curls through the LB like the README" "python3:the smoke test reads /stats JSON"
)
package_pkgs=(
  "dpkg-dev:dpkg-shlibdeps computes the package's Depends (CPack DEB)" "file:used by dpkg-shlibdeps"
  "debootstrap:the clean bookworm chroot the package test installs into"
  "systemd:systemd-analyze verify on the units (works without systemd as PID 1)"
  "shellcheck:lints every shell script of deploy/ and scripts/"
  "lintian:Debian's package checker: tests/package/run.sh requires no error or warning"
)
# cloud-init itself is not installed on the host (on a VM it would act at the next boot):
# tests/deploy/lint.sh installs it in a throw-away chroot to run `cloud-init schema`.

selected=()
[ $want_build = 1 ] && selected+=("${build_pkgs[@]}")
[ $want_test = 1 ] && selected+=("${test_pkgs[@]}")
[ $want_bench = 1 ] && selected+=("${bench_pkgs[@]}")
[ $want_docker = 1 ] && selected+=("${docker_pkgs[@]}")
[ $want_package = 1 ] && selected+=("${package_pkgs[@]}")

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: this is not a Debian/Ubuntu system (no apt-get); install the equivalents yourself:" >&2
  echo "  Fedora/RHEL: gcc make cmake pkgconf openssl-devel c-ares-devel libuv-devel llhttp-devel inih-devel libmnl-devel zlib-devel libcmocka-devel dnsmasq curl iproute iptables tcpdump haproxy nginx wrk nghttp2 gnuplot" >&2
  echo "  Arch: gcc make cmake pkgconf openssl c-ares libuv llhttp libinih libmnl zlib cmocka dnsmasq curl iproute2 iptables tcpdump haproxy nginx wrk nghttp2 gnuplot" >&2
  echo "  Alpine: build-base cmake pkgconf openssl-dev c-ares-dev libuv-dev llhttp-dev inih-dev libmnl-dev zlib-dev cmocka-dev dnsmasq curl iproute2 iptables tcpdump haproxy nginx wrk nghttp2 gnuplot" >&2
  exit 1
fi

missing=()
for item in "${selected[@]}"; do
  pkg=${item%%:*}
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$item")
  fi
done

if [ ${#missing[@]} = 0 ]; then
  echo "install-deps: everything needed is installed"
  exit 0
fi

echo "install-deps: will install:"
for item in "${missing[@]}"; do printf '  %-20s %s\n' "${item%%:*}" "${item#*:}"; done
[ $dry = 1 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install-deps: not root and no sudo: run as root (or install the packages above)" >&2
    exit 1
  fi
else
  SUDO=
fi

names=()
for item in "${missing[@]}"; do names+=("${item%%:*}"); done
export DEBIAN_FRONTEND=noninteractive
# A stale or empty package list makes installs fail with "unable to locate": refresh once.
if ! $SUDO apt-get update -qq; then
  echo "install-deps: apt-get update failed: check the network and /etc/apt/sources.list" >&2
  exit 1
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${names[@]}" >/tmp/journey-install-deps.log 2>&1; then
  tail -20 /tmp/journey-install-deps.log >&2
  echo "install-deps: apt-get install failed (full log: /tmp/journey-install-deps.log)" >&2
  exit 1
fi
echo "install-deps: installed ${names[*]}"
