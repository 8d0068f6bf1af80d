#!/usr/bin/env bash
# journey-backend vs nginx, same machine, same run: `wrk -t1 -c64` against one journey-backend
# serving GET /my-app/data and against nginx (worker_processes 1) serving a static
# `return 200` body of the same length, in interleaved rounds (backend, nginx, backend, ...).
# Prints each round, then a table of medians (min-max) and the ratios backend/nginx
# (bench/lib.sh and bench/report.py: the shared benchmark shell and statistics).
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
. "$(dirname "$0")/lib.sh"
cd "$BENCH_ROOT"

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
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "backend-vs-nginx: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$rounds$duration$conns$workers" in *[!0-9]*) echo "backend-vs-nginx: numbers expected" >&2; exit 2 ;; esac
[ "$rounds" -ge 1 ] && [ "$rounds" -le 20 ] || { echo "backend-vs-nginx: --rounds 1..20" >&2; exit 2; }
[ "$duration" -ge 1 ] && [ "$duration" -le 60 ] || { echo "backend-vs-nginx: --duration 1..60" >&2; exit 2; }
case "$access_log" in on|off) ;; *) echo "backend-vs-nginx: --access-log on|off" >&2; exit 2 ;; esac

bench_init backend-vs-nginx
bench_need wrk nginx curl python3
[ "$instructions" = 1 ] && bench_need valgrind callgrind_control
bench_binaries "$build_dir"

server_cpu=() client_cpu=()
if [ "$pin" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 1) client_cpu=(taskset -c 0)
else
  pin=0
fi
backend_wrap=() nginx_wrap=() master=on
if [ "$instructions" = 1 ]; then
  # Counting starts with callgrind_control -i on, after start-up; one nginx process (no master)
  # so that callgrind sees the worker.
  backend_wrap=(valgrind -q --tool=callgrind --instr-atstart=no --callgrind-out-file="$BENCH_TMP/callgrind.backend")
  nginx_wrap=(valgrind -q --tool=callgrind --instr-atstart=no --callgrind-out-file="$BENCH_TMP/callgrind.nginx")
  master=off
fi

# journey-backend on an ephemeral port: it logs the address it bound.
backend_args=(--listen 127.0.0.1:0 --name bench --workers "$workers")
[ "$access_log" = off ] && backend_args+=(--no-access-log)
bench_start backend "${server_cpu[@]}" "${backend_wrap[@]}" "$BACKEND_BIN" "${backend_args[@]}"
backend_pid=$BENCH_LAST_PID
backend_addr=""
for _ in $(seq 100); do
  backend_addr=$(bench_listen_addrs backend | head -1)
  [ -n "$backend_addr" ] && break
  sleep 0.1
done
[ -n "$backend_addr" ] || { cat "$BENCH_TMP/backend.err" >&2; bench_die "journey-backend did not start (log above)"; }

# The same body length for nginx: what wrk gets from the backend (wrk sends no X-Request-Id).
body_len=$(curl -s "http://$backend_addr/my-app/data" | wc -c)
body=$(python3 -c "import sys; n=int(sys.argv[1]); s='{\"backend\":\"nginx\",\"pad\":\"'; print(s + 'x'*(n-len(s)-2) + '\"}', end='')" "$body_len")

nginx_port=$(bench_free_ports 1)
nd=$BENCH_TMP/nginx
mkdir -p "$nd/logs"
if [ "$access_log" = on ]; then nginx_log="access_log $nd/access.log combined buffer=64k flush=1s;"; else nginx_log="access_log off;"; fi
cat >"$nd/nginx.conf" <<NGINX
worker_processes 1;
master_process $master;
daemon off;
pid $nd/nginx.pid;
error_log $nd/error.log warn;
events { worker_connections 1024; }
http {
  $nginx_log
  client_body_temp_path $nd/body;
  proxy_temp_path $nd/proxy;
  fastcgi_temp_path $nd/fastcgi;
  uwsgi_temp_path $nd/uwsgi;
  scgi_temp_path $nd/scgi;
  keepalive_requests 10000000;  # journey-backend has no per-connection request limit either
  server {
    listen 127.0.0.1:$nginx_port;
    location / { default_type application/json; return 200 '$body'; }
  }
}
NGINX
bench_start nginx "${server_cpu[@]}" "${nginx_wrap[@]}" nginx -p "$nd" -c "$nd/nginx.conf"
nginx_pid=$BENCH_LAST_PID
bench_wait_http "http://127.0.0.1:$nginx_port/my-app/data" 10 || true
nginx_len=$(curl -s "http://127.0.0.1:$nginx_port/my-app/data" | wc -c)
[ "$nginx_len" = "$body_len" ] || { cat "$BENCH_TMP/nginx.err" "$nd/error.log" >&2 2>/dev/null; bench_die "nginx did not start or serves $nginx_len bytes, not $body_len"; }

if [ "$instructions" = 1 ]; then
  # One wrk run each with instruction counting on; the counts are written when the server exits.
  count_run() { # PID URL -> requests done
    local pid=$1 url=$2 parsed
    callgrind_control -i on "$pid" >/dev/null 2>&1
    wrk -t1 -c"$conns" -d"${duration}s" "$url" >"$BENCH_TMP/gen.out" 2>&1 || true
    callgrind_control -i off "$pid" >/dev/null 2>&1
    parsed=$(bench_parse_wrk "$BENCH_TMP/gen.out") || true
    case "$parsed" in *"non2xx=0 errors=0"*) ;; *) bench_log "$url: $parsed" ;; esac
    awk '/requests in/ {print $1}' "$BENCH_TMP/gen.out"
  }
  echo "user-space instructions per request (callgrind), wrk -t1 -c$conns -d${duration}s each, body $body_len bytes, access log $access_log"
  breq=$(count_run "$backend_pid" "http://$backend_addr/my-app/data")
  nreq=$(count_run "$nginx_pid" "http://127.0.0.1:$nginx_port/my-app/data")
  bench_stop "$backend_pid" TERM
  bench_stop "$nginx_pid" QUIT
  bi=$(awk '/^totals:/ {print $2}' "$BENCH_TMP/callgrind.backend"*)
  ni=$(awk '/^totals:/ {print $2}' "$BENCH_TMP/callgrind.nginx"*)
  bench_record "workload=server-instructions access_log=$access_log lb=journey round=1 ir=$bi requests=$breq ir_per_req=$((bi / breq))"
  bench_record "workload=server-instructions access_log=$access_log lb=nginx round=1 ir=$ni requests=$nreq ir_per_req=$((ni / nreq))"
  bench_table --workload server-instructions
  exit 0
fi

echo "journey-backend $backend_addr vs nginx 127.0.0.1:$nginx_port: body $body_len bytes, wrk -t1 -c$conns -d${duration}s, $rounds rounds, access log $access_log, backend workers $workers, pinned $([ "$pin" = 1 ] && echo "servers CPU 1, wrk CPU 0" || echo no)"
# One wrk run with the server's CPU accounted (server CPU per request is steadier than requests/s
# on a shared machine); "lb" in the record names the server measured.
run_server() { # journey|nginx URL ROUND PID...
  local who=$1 url=$2 r=$3 parsed
  shift 3
  BENCH_LB_PIDS=$(bench_tree "$@" | tr '\n' ' ') BENCH_BE_PIDS=""
  bench_measure "${client_cpu[@]}" wrk -t1 -c"$conns" -d"${duration}s" --latency "$url"
  parsed=$(bench_parse_wrk "$BENCH_TMP/gen.out") || true
  case "$parsed" in *"non2xx=0 errors=0"*) ;; *) bench_log "$who: $parsed" ;; esac
  bench_record "workload=server access_log=$access_log workers=$workers lb=$who round=$r $parsed lb_cpu=$BM_LB gen=$BM_GEN other=$BM_OTHER wall=$BM_WALL"
  echo "round $r $who: $parsed server_cores=$BM_LB"
}
for r in $(seq "$rounds"); do
  run_server journey "http://$backend_addr/my-app/data" "$r" "$backend_pid"
  run_server nginx "http://127.0.0.1:$nginx_port/my-app/data" "$r" "$nginx_pid"
done
bench_table --workload server
