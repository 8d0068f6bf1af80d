#!/usr/bin/env bash
# journey vs curl on loopback, same run, interleaved (journey, curl, journey, curl, ...), medians.
#
#   bench/client-vs-curl.sh [--rounds N] [--requests N] [--build DIR]
#
# 1. one request: wall time and CPU time (user+sys) of the whole process, for
#    https://www.my-app.com:PORT/my-app/data through journey-lb (TLS, dev CA) to journey-backend,
#    and http:// straight to journey-backend; journey with --resolve, curl with --resolve, both
#    verifying the certificate with the same CA file and writing nothing to the terminal;
# 2. N requests (default 1000) on one kept-alive connection: `journey -s -n N URL` vs curl with the
#    URL N times on one command line (curl reuses the connection), wall and CPU;
# 3. HTTP/2, when nghttpd is installed (nghttp2-server): one request over h2, and N requests as 10
#    streams at once on one connection (`journey -n N -c 10` vs `curl --parallel --parallel-max 10`
#    with the URL N times, which multiplexes them the same way), against nghttpd serving a small file.
# Prints a table of medians and ratios (journey / curl: below 1.00 means journey is faster).
# Everything listens on 127.0.0.1 and is stopped by PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=15
requests=1000
build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
J="$build/client/journey"; BE="$build/backend/journey-backend"; LB="$build/lb/journey-lb"
for b in "$J" "$BE"; do [ -x "$b" ] || { echo "missing $b: run make first" >&2; exit 1; }; done
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }
certs/make-certs.sh >/dev/null
run=$(mktemp -d /tmp/journey-bench-client.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$run"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_tcp() { for _ in $(seq 100); do python3 -c "import socket;socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0; sleep 0.05; done; echo "nothing on port $1" >&2; exit 1; }

bport=$(port); "$BE" --listen "127.0.0.1:$bport" --name b1 --no-access-log >"$run/be.log" 2>&1 & pids+=($!)
wait_tcp "$bport"
urls=("http://127.0.0.1:$bport/my-app/data")
if [ -x "$LB" ]; then
  lport=$(port)
  "$LB" --listen "https://127.0.0.1:$lport" --cert certs/out/server.crt --key certs/out/server.key \
    --backend "b1=127.0.0.1:$bport" >"$run/lb.log" 2>&1 & pids+=($!)
  wait_tcp "$lport"
  sleep 0.3
  urls=("https://www.my-app.com:$lport/my-app/data" "${urls[@]}")
else
  echo "(journey-lb not built: HTTP only)"
fi
if command -v nghttpd >/dev/null; then
  mkdir -p "$run/www" && printf '{"ok":true}\n' >"$run/www/data"
  hport=$(port)
  nghttpd -a 127.0.0.1 -d "$run/www" "$hport" certs/out/server.key certs/out/server.crt >"$run/nghttpd.log" 2>&1 &
  pids+=($!)
  wait_tcp "$hport"
  urls+=("h2:https://www.my-app.com:$hport/data")
else
  echo "(nghttpd not installed: no HTTP/2 rows; scripts/install-deps.sh --test)"
fi

python3 - "$J" "$rounds" "$requests" certs/out/ca.crt "${urls[@]}" <<'PY'
import os, resource, statistics, subprocess, sys, time
J, rounds, n, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
urls = sys.argv[5:]

def measure(argv):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit("failed (exit %d): %s" % (p.returncode, " ".join(argv[:8])))
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

def pin(url):
    host_port = url.split("/")[2]
    host, port = host_port.rsplit(":", 1)
    return "%s:%s:127.0.0.1" % (host, port)

rows = []
for url in urls:
    h2 = url.startswith("h2:")
    url = url[3:] if h2 else url
    tls = url.startswith("https")
    kind = "h2" if h2 else url.split(":")[0]
    pins = ["--cacert", ca, "--resolve", pin(url)] if tls else []
    jcmd = [J, "-s", "--no-cache"] + pins + [url]
    ccmd = ["curl", "-s", "-o", "/dev/null"] + pins + [url]
    jn = [J, "-s", "--no-cache", "-n", str(n)] + (["-c", "10"] if h2 else []) + pins + [url]
    cn = ["curl", "-s", "-o", "/dev/null"] + (["--parallel", "--parallel-max", "10"] if h2 else []) + pins + [url] * n
    many = "%d as 10 streams h2" % n if h2 else "%d kept-alive %s" % (n, kind)
    for name, a, b, r in (("1 request  " + kind, jcmd, ccmd, rounds), (many, jn, cn, max(3, rounds // 3))):
        measure(a); measure(b)  # warm caches
        ja, ca_ = [], []
        for _ in range(r):  # interleaved: A B A B ...
            ja.append(measure(a)); ca_.append(measure(b))
        jw, jc = statistics.median(x[0] for x in ja), statistics.median(x[1] for x in ja)
        cw, cc = statistics.median(x[0] for x in ca_), statistics.median(x[1] for x in ca_)
        rows.append((name, r, jw, cw, jc, cc))

print("%-28s %6s %12s %12s %7s %12s %12s %7s" % ("case", "rounds", "journey wall", "curl wall", "ratio",
                                                   "journey CPU", "curl CPU", "ratio"))
for name, r, jw, cw, jc, cc in rows:
    print("%-28s %6d %10.2fms %10.2fms %7.2f %10.2fms %10.2fms %7.2f" % (
        name, r, jw * 1e3, cw * 1e3, jw / cw, jc * 1e3, cc * 1e3, jc / cc if cc else float("nan")))
print("medians; ratio = journey / curl (below 1.00: journey is faster). curl %s" %
      subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()[1])
PY
