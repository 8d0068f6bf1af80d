#!/usr/bin/env bash
# journey-lb vs HAProxy 2.6 on the same machine, same backends, same certificate, same workers.
#
#   bench/lb-vs-haproxy.sh [--rounds N] [--duration S] [--connections C] [--threads T] [--workers W]
#                          [--pin]
#
# Three journey-backend servers on loopback; journey-lb and haproxy with equivalent settings:
# round-robin, keep-alive to the backends, access logs off, W workers/threads. Interleaved wrk
# rounds (journey-lb, haproxy, journey-lb, ...) for HTTPS keep-alive and plain HTTP keep-alive,
# then a table of medians (req/s, p50, p99, CPU microseconds per request from /proc/PID/stat)
# and the ratios journey-lb / haproxy. On a small shared machine wrk, the backends and the
# balancer compete for the same cores: CPU per request is the steadiest figure. --pin (2+ CPUs,
# taskset): wrk on CPU 0, the servers (backends, balancer) on the others, the same for both.
# Needs: wrk, haproxy, a build (make build). Loopback only; every process started is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5 duration=6 conns=64 threads=2 workers=2 pin=0
while [ $# -gt 0 ]; do
  case "$1" in
    --pin) pin=1; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "lb-vs-haproxy: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for tool in wrk haproxy python3; do
  command -v $tool >/dev/null || { echo "lb-vs-haproxy: '$tool' not found: run scripts/install-deps.sh --bench" >&2; exit 1; }
done
BUILD=${BUILD_DIR:-build}
LB=$BUILD/lb/journey-lb
BACKEND=$BUILD/backend/journey-backend
[ -x "$LB" ] && [ -x "$BACKEND" ] || { echo "lb-vs-haproxy: build first (make build): $LB / $BACKEND missing" >&2; exit 1; }

server_cpu=() client_cpu=()
if [ "$pin" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c "1-$(($(nproc) - 1))") client_cpu=(taskset -c 0)
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

certs/make-certs.sh --out "$tmp/certs" >/dev/null
cat "$tmp/certs/server.crt" "$tmp/certs/server.key" > "$tmp/certs/haproxy.pem"

# Loopback ports for the listeners: free now and below the kernel's ephemeral range, so that
# the outgoing connections of a busy machine cannot take them before we bind.
read -r lbs lbh has hah < <(python3 - <<'PY'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
got = []
while len(got) < 4:
    p = random.randrange(20000, min(lo, 32768))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); got.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(*got)
PY
)
# Backends on port 0: each logs the address it bound.
declare -a bports
for i in 1 2 3; do
  "${server_cpu[@]}" "$BACKEND" --listen 127.0.0.1:0 --name b$i >"$tmp/b$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 200); do
    port=$(sed -n 's/.*msg=listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/b$i.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "lb-vs-haproxy: backend b$i did not start:" >&2; cat "$tmp/b$i.log" >&2; exit 1; }
  bports[$i]=$port
done
p1=${bports[1]} p2=${bports[2]} p3=${bports[3]}

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "lb-vs-haproxy: nothing listens on 127.0.0.1:$1 after 10 s; the logs:" >&2
  tail -n 5 "$tmp"/*.log "$tmp"/*.err >&2 2>/dev/null || true
  exit 1
}

lbpid=
"${server_cpu[@]}" "$LB" --listen https://127.0.0.1:$lbs --listen http://127.0.0.1:$lbh \
  --cert "$tmp/certs/server.crt" --key "$tmp/certs/server.key" \
  --backend b1=127.0.0.1:$p1 --backend b2=127.0.0.1:$p2 --backend b3=127.0.0.1:$p3 \
  --algorithm round-robin --workers "$workers" --access-log off --log-level warn \
  --max-connections 20000 >"$tmp/lb.out" 2>"$tmp/lb.err" &
lbpid=$!
pids+=($!)

cat >"$tmp/haproxy.cfg" <<CFG
global
  nbthread $workers
  maxconn 4000
  ssl-default-bind-options ssl-min-ver TLSv1.2
  tune.ssl.default-dh-param 2048
defaults
  mode http
  timeout connect 3s
  timeout client 60s
  timeout server 30s
  timeout http-request 10s
  timeout http-keep-alive 60s
  option http-keep-alive
  no log
frontend fe_https
  bind 127.0.0.1:$has ssl crt $tmp/certs/haproxy.pem alpn http/1.1
  default_backend be
frontend fe_http
  bind 127.0.0.1:$hah
  default_backend be
backend be
  balance roundrobin
  http-reuse always
  server b1 127.0.0.1:$p1
  server b2 127.0.0.1:$p2
  server b3 127.0.0.1:$p3
CFG
"${server_cpu[@]}" haproxy -f "$tmp/haproxy.cfg" -db >"$tmp/haproxy.log" 2>&1 &
hapid=$!
pids+=($!)
for port in $lbs $lbh $has $hah; do wait_port "$port"; done
for port in $lbs $lbh $has $hah; do
  curl -fsk -o /dev/null --max-time 3 "$( [ $port = $lbs ] || [ $port = $has ] && echo https || echo http )://127.0.0.1:$port/my-app/data" ||
    { echo "lb-vs-haproxy: nothing answers on port $port; logs in $tmp" >&2; cat "$tmp"/*.err "$tmp"/haproxy.log >&2; exit 1; }
done

# wrk --latency prints "50%  1.23ms" lines; normalise to ms.
# CPU time (user+system, all threads) a process used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_wrk() { # url pid -> "rps p50 p99 non2xx cpu_us_per_request"
  local t0 t1
  t0=$(cpu_ticks "$2")
  "${client_cpu[@]}" wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "$1" >"$tmp/wrk.txt" 2>&1 || true
  t1=$(cpu_ticks "$2")
  python3 - "$tmp/wrk.txt" $((t1 - t0)) "$(getconf CLK_TCK)" <<'PY'
import sys,re
t=open(sys.argv[1]).read()
try:
    def ms(v):
        m=re.match(r"([\d.]+)(us|ms|s|m)$",v); x=float(m.group(1)); u=m.group(2)
        return x/1000 if u=="us" else x*1000 if u=="s" else x*60000 if u=="m" else x
    rps=float(re.search(r"Requests/sec:\s+([\d.]+)",t).group(1))
    # anchored: "57.50%" in the Req/Sec line must not pass for the 50th percentile
    p50=ms(re.search(r"^\s+50%\s+(\S+)",t,re.M).group(1)); p99=ms(re.search(r"^\s+99%\s+(\S+)",t,re.M).group(1))
    errs=re.search(r"Non-2xx or 3xx responses: (\d+)",t)
    total=int(re.search(r"(\d+) requests in",t).group(1))
    cpu_us=int(sys.argv[2])*1e6/int(sys.argv[3])/max(total,1)
    print(rps,p50,p99,errs.group(1) if errs else 0,round(cpu_us,2))
except Exception:
    sys.stderr.write("wrk output not understood:\n"+t)
    print(0,0,0,-1,0)
PY
}

declare -A res
for r in $(seq 1 "$rounds"); do
  for proto in https http; do
    for who in journey-lb haproxy; do
      case $who-$proto in
        journey-lb-https) url=https://127.0.0.1:$lbs/my-app/data pid=$lbpid ;;
        journey-lb-http) url=http://127.0.0.1:$lbh/my-app/data pid=$lbpid ;;
        haproxy-https) url=https://127.0.0.1:$has/my-app/data pid=$hapid ;;
        haproxy-http) url=http://127.0.0.1:$hah/my-app/data pid=$hapid ;;
      esac
      out=$(run_wrk "$url" "$pid")
      echo "round $r $proto $who: $out (req/s p50ms p99ms non2xx cpu-us/req)" >&2
      res[$who-$proto]+="$out;"
    done
  done
done

python3 - "${res[journey-lb-https]}" "${res[haproxy-https]}" "${res[journey-lb-http]}" "${res[haproxy-http]}" <<'PY'
import sys, statistics as st
def parse(s):  # rounds whose wrk output could not be read (-1) are left out
    rows=[list(map(float,x.split())) for x in s.strip(";").split(";")]
    return [r for r in rows if r[3] >= 0] or rows
names=["journey-lb https","haproxy https","journey-lb http","haproxy http"]
data=[parse(a) for a in sys.argv[1:5]]
med=[[st.median(r[i] for r in d) for i in range(5)] for d in data]
print(f"{'':18} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'CPU us/req':>11}")
for n,m in zip(names,med):
    print(f"{n:18} {m[0]:>10.0f} {m[1]:>8.3f} {m[2]:>8.3f} {m[3]:>8.0f} {m[4]:>11.2f}")
for proto,(a,b) in (("https",(0,1)),("http",(2,3))):
    print(f"ratio journey-lb/haproxy {proto}: req/s {med[a][0]/med[b][0]:.2f}  p50 {med[a][1]/med[b][1]:.2f}"
          f"  p99 {med[a][2]/med[b][2]:.2f}  CPU/req {med[a][4]/med[b][4]:.2f} (lower is better)")
PY
