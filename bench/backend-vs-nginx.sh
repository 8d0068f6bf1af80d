#!/usr/bin/env bash
# journey-backend vs nginx, same machine, same run: `wrk -t1 -c64` against one journey-backend
# serving GET /my-app/data and against nginx (worker_processes 1) serving a static
# `return 200` body of the same length, in interleaved rounds (backend, nginx, backend, ...).
# Prints each round, the medians and the ratio backend/nginx.
#
#   bench/backend-vs-nginx.sh [--rounds N] [--duration SECONDS] [--connections N]
#                             [--access-log on|off] [--workers N] [--no-pin] [--build-dir DIR]
#                             [--instructions]
#
# Defaults: 5 rounds of 5 s each, 64 connections, access logs off for both, 1 backend worker.
# With 2+ CPUs and taskset, wrk runs on CPU 0 and both servers on CPU 1 (--no-pin: anywhere):
# the same for both, and it keeps the scheduler from adding its own noise to the comparison.
# --instructions: both servers run under valgrind's callgrind (nginx with master_process off)
# and the script prints user-space instructions per request during one wrk run each: slow,
# but repeatable to the percent on a noisy machine (kernel work is not counted).
# --access-log on: both log every request to a file (nginx with buffer=64k, journey-backend
# batches per loop iteration). Both servers listen on 127.0.0.1 (ephemeral ports); the script
# stops only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5 duration=5 conns=64 access_log=off workers=1 build_dir=build pin=1 instructions=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --access-log) access_log=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --no-pin) pin=0; shift ;;
    --instructions) instructions=1; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "backend-vs-nginx: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$rounds$duration$conns$workers" in *[!0-9]*) echo "backend-vs-nginx: numbers expected" >&2; exit 2 ;; esac
[ "$rounds" -ge 1 ] && [ "$rounds" -le 20 ] || { echo "backend-vs-nginx: --rounds 1..20" >&2; exit 2; }
[ "$duration" -ge 1 ] && [ "$duration" -le 60 ] || { echo "backend-vs-nginx: --duration 1..60" >&2; exit 2; }
case "$access_log" in on|off) ;; *) echo "backend-vs-nginx: --access-log on|off" >&2; exit 2 ;; esac

backend=$build_dir/backend/journey-backend
tools=(wrk nginx curl python3)
[ "$instructions" = 1 ] && tools+=(valgrind callgrind_control)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "backend-vs-nginx: '$tool' not found: run scripts/install-deps.sh --bench" >&2; exit 1; }
done
[ -x "$backend" ] || { echo "backend-vs-nginx: $backend not built: run 'make' first (or --build-dir DIR)" >&2; exit 1; }

server_cpu=() client_cpu=() backend_wrap=() nginx_wrap=()
if [ "$pin" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 1) client_cpu=(taskset -c 0)
else
  pin=0
fi

tmp=$(mktemp -d /tmp/journey-bench.XXXXXX)
if [ "$instructions" = 1 ]; then
  # Counting starts with callgrind_control -i on, after start-up.
  backend_wrap=(valgrind -q --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/callgrind.backend")
  nginx_wrap=(valgrind -q --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/callgrind.nginx")
fi
backend_pid="" nginx_pid=""
cleanup() {
  # Only the processes this script started, by PID.
  [ -n "$backend_pid" ] && kill -TERM "$backend_pid" 2>/dev/null && wait "$backend_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# journey-backend on an ephemeral port: it logs the address it bound.
backend_args=(--listen 127.0.0.1:0 --name bench --workers "$workers")
[ "$access_log" = off ] && backend_args+=(--no-access-log)
"${server_cpu[@]}" "${backend_wrap[@]}" "$backend" "${backend_args[@]}" >"$tmp/backend-access.log" 2>"$tmp/backend.err" &
backend_pid=$!
backend_addr=""
for _ in $(seq 100); do
  backend_addr=$(sed -n 's/.*msg=listening addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$tmp/backend.err" | head -1)
  [ -n "$backend_addr" ] && break
  sleep 0.1
done
[ -n "$backend_addr" ] || { echo "backend-vs-nginx: journey-backend did not start:" >&2; cat "$tmp/backend.err" >&2; exit 1; }

# The same body length for nginx: what wrk gets from the backend (wrk sends no X-Request-Id).
body_len=$(curl -s "http://$backend_addr/my-app/data" | wc -c)
body=$(python3 -c "import sys; n=int(sys.argv[1]); s='{\"backend\":\"nginx\",\"pad\":\"'; print(s + 'x'*(n-len(s)-2) + '\"}', end='')" "$body_len")

nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/nginx/logs"
if [ "$access_log" = on ]; then nginx_log="access_log $tmp/nginx/access.log combined buffer=64k flush=1s;"; else nginx_log="access_log off;"; fi
master=on
[ "$instructions" = 1 ] && master=off  # one process, so that callgrind sees the worker
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
master_process $master;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  $nginx_log
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  keepalive_requests 10000000;  # journey-backend has no per-connection request limit either
  server {
    listen 127.0.0.1:$nginx_port;
    location / { default_type application/json; return 200 '$body'; }
  }
}
EOF
"${server_cpu[@]}" "${nginx_wrap[@]}" nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx.err" &
nginx_pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$nginx_port/my-app/data" && break
  sleep 0.1
done
nginx_len=$(curl -s "http://127.0.0.1:$nginx_port/my-app/data" | wc -c)
[ "$nginx_len" = "$body_len" ] || { echo "backend-vs-nginx: nginx did not start or serves $nginx_len bytes, not $body_len:" >&2; cat "$tmp/nginx.err" "$tmp/nginx/error.log" >&2 2>/dev/null; exit 1; }

# CPU time (utime+stime, clock ticks) of all threads of the given PIDs.
cpu_ticks() {
  local t=0 f v
  for p in "$@"; do
    for f in /proc/"$p"/task/*/stat; do
      v=$(awk '{print $14 + $15}' "$f" 2>/dev/null || echo 0)
      t=$((t + v))
    done
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)

# One wrk run; prints "requests/s server-CPU-microseconds-per-request" (and complains about
# errors or non-2xx answers). CPU per request is steadier than requests/s on a shared machine.
run_wrk() {
  local name=$1 url=$2 out c0 c1 rps
  shift 2
  c0=$(cpu_ticks "$@")
  out=$("${client_cpu[@]}" wrk -t1 -c"$conns" -d"${duration}s" "$url")
  c1=$(cpu_ticks "$@")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "backend-vs-nginx: $name: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ')" >&2
  fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  awk -v r="$rps" -v c=$((c1 - c0)) -v hz="$hz" -v d="$duration" \
    'BEGIN {printf "%s %.2f\n", r, (r > 0 ? c / hz * 1e6 / (r * d) : 0)}'
}

nginx_pids=("$nginx_pid" $(cat /proc/"$nginx_pid"/task/*/children 2>/dev/null))

if [ "$instructions" = 1 ]; then
  # One wrk run each with instruction counting on; the counts are written when the server exits.
  count_run() {
    local pid=$1 url=$2 out
    callgrind_control -i on "$pid" >/dev/null 2>&1
    out=$(wrk -t1 -c"$conns" -d"${duration}s" "$url")
    callgrind_control -i off "$pid" >/dev/null 2>&1
    grep -qE "Socket errors|Non-2xx" <<<"$out" && echo "backend-vs-nginx: $url: $(grep -E "Socket errors|Non-2xx" <<<"$out" | tr -s " ")" >&2
    awk '/requests in/ {print $1}' <<<"$out"
  }
  echo "user-space instructions per request (callgrind), wrk -t1 -c$conns -d${duration}s each, body $body_len bytes, access log $access_log"
  breq=$(count_run "$backend_pid" "http://$backend_addr/my-app/data")
  nreq=$(count_run "$nginx_pid" "http://127.0.0.1:$nginx_port/my-app/data")
  kill -TERM "$backend_pid"; wait "$backend_pid" || true; backend_pid=""
  kill -QUIT "$nginx_pid"; wait "$nginx_pid" || true; nginx_pid=""
  bi=$(awk '/^totals:/ {print $2}' "$tmp/callgrind.backend"*)
  ni=$(awk '/^totals:/ {print $2}' "$tmp/callgrind.nginx"*)
  awk -v bi="$bi" -v br="$breq" -v ni="$ni" -v nr="$nreq" 'BEGIN {
    printf "%-16s %12s %16s %14s\n", "server", "requests", "instructions", "instr/request"
    printf "%-16s %12d %16d %14.0f\n", "journey-backend", br, bi, bi / br
    printf "%-16s %12d %16d %14.0f\n", "nginx", nr, ni, ni / nr
    printf "ratio journey-backend/nginx, instructions per request: %.3f (<= 1: journey-backend cheaper)\n", (bi / br) / (ni / nr)
  }'
  exit 0
fi

echo "journey-backend $backend_addr vs nginx 127.0.0.1:$nginx_port: body $body_len bytes, wrk -t1 -c$conns -d${duration}s, $rounds rounds, access log $access_log, backend workers $workers, pinned $([ "$pin" = 1 ] && echo "servers CPU 1, wrk CPU 0" || echo no)"
printf '%-6s %16s %16s %18s %18s\n' round "backend req/s" "nginx req/s" "backend us/req" "nginx us/req"
b_all=() n_all=() bc_all=() nc_all=()
for r in $(seq "$rounds"); do
  read -r b bc < <(run_wrk journey-backend "http://$backend_addr/my-app/data" "$backend_pid")
  read -r n nc < <(run_wrk nginx "http://127.0.0.1:$nginx_port/my-app/data" "${nginx_pids[@]}")
  b_all+=("$b") n_all+=("$n") bc_all+=("$bc") nc_all+=("$nc")
  printf '%-6s %16s %16s %18s %18s\n' "$r" "$b" "$n" "$bc" "$nc"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
bm=$(median "${b_all[@]}") nm=$(median "${n_all[@]}")
bcm=$(median "${bc_all[@]}") ncm=$(median "${nc_all[@]}")
printf '%-6s %16s %16s %18s %18s\n' median "$bm" "$nm" "$bcm" "$ncm"
awk -v b="$bm" -v n="$nm" 'BEGIN {printf "ratio journey-backend/nginx, median requests/s: %.3f (>= 1: journey-backend at least as fast)\n", b/n}'
awk -v b="$bcm" -v n="$ncm" 'BEGIN {printf "ratio journey-backend/nginx, median server CPU per request: %.3f (<= 1: journey-backend cheaper)\n", b/n}'
