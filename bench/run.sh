#!/usr/bin/env bash
# journey-lb against HAProxy and nginx, side by side, on loopback; writes RESULTS.md, plots and raw data.
#
#   bench/run.sh [--quick] [--workers "1 2"] [--rounds N] [--duration S] [--out DIR]
#                [--only "WORKLOAD ..."] [--lbs "journey haproxy nginx"] [--backends "journey nginx"]
#                [--connections C] [--threads T] [--gen-procs N] [--pin] [--lb-flags "FLAGS"]
#                [--tls-versions "1.3 1.2"] [--no-install] [--build-dir DIR] [--h2-requests R]
#
# Installs what it needs (scripts/install-deps.sh --build --bench) and builds (make build), then runs,
# for each worker count (1, then 2; --workers), interleaved rounds (journey-lb, HAProxy, nginx,
# journey-lb, ...) of the workloads of issue 9:
#   https-ka http-ka   wrk -t2 -c64 keep-alive; backends: 3 journey-backends, then 3 nginx ports
#   tls-new tls-resume a new TLS connection per request, full handshake / resumed (bench/tlsconn),
#                      TLS 1.3 and TLS 1.2 (--tls-versions)
#   tls-close          a new TLS connection per request from wrk (-H 'Connection: close', -c16):
#                      TLS 1.3 sessions resumed, what a browser's fresh connection costs
#   ka-logs            https-ka and http-ka with access logs on in all three (journey-lb's default
#                      access log, HAProxy log stdout + option httplog, nginx access_log to a file)
#   latency            h2load --h1 at a fixed rate (16 clients x 125 req/s), p50/p99/p99.9
#   memory             RSS growth per idle TLS keep-alive connection, 1 000 and 10 000 connections
#   pool               req/s with 3, 30, 300 servers, round-robin and least-conn
#   callgrind          instructions per request of each LB under valgrind (1 worker), keep-alive
#                      with access logs off and on, and per new TLS connection (accept, handshake,
#                      one request, close) full and resumed, TLS 1.3 and 1.2
#   syscalls           system calls per request of each LB (strace -c, 1 worker)
#   tunnel             RSS growth per idle WebSocket tunnel (journey-backends' /ws), HTTPS and
#                      plain, 1 000 tunnels; journey-lb and HAProxy only
#   h2-m1 h2-m10       HTTP/2 over TLS: h2load -c 64 -m 1 / -m 10 (64 connections, 1 or 10 streams
#                      in flight on each); HAProxy with `alpn h2,http/1.1`, nginx `listen ... http2`
#   h2-idle            RSS growth per idle HTTP/2 connection (R requests each, 1 by default, then idle;
#                      bench/h2hold.py)
# An LB that does not negotiate h2 (ALPN, checked with curl first) gets "not negotiated" in the h2 rows.
# memory, pool, callgrind, syscalls, tunnel and h2-idle run with 1 worker. Same ECDSA P-256 certificate (certs/make-certs.sh),
# same worker count, round-robin, keep-alive to the backends, access logs off for all three (on in
# ka-logs and the callgrind logs=on rows).
# --quick: 1 worker, 1 round of 2 s, journey-backend backends only, 500 connections, pools 3 and
# 300 (1 s), callgrind on journey-lb only: a few minutes. Full: about 30 minutes on 2 cores (callgrind of
# the three LBs, per-connection rows included, is a third of it). Output: DIR/RESULTS.md, DIR/*.png,
# DIR/raw/ (records, generator output, configs, callgrind profiles); DIR defaults to docs/bench
# (full) or bench/out (--quick); the tables are also printed. --lbs/--backends/--only: a subset
# (bench/lb-vs-haproxy.sh is one). --connections/--threads: wrk's (64, 2). --gen-procs: tlsconn
# processes for tls-new/tls-resume (1; more only where spare CPUs exist). --pin (2+ CPUs,
# taskset): load generators on CPU 0, servers on the others, the same for all three LBs.
# --lb-flags: extra journey-lb flags, for A/B runs of one setting (recorded in the results).
# --tls-versions: the TLS versions of tls-new/tls-resume and of callgrind's per-connection rows.
# --h2-requests: h2-idle's requests per connection before it idles (what many responses leave).
# Loopback only; every process started is stopped by its PID.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$BENCH_ROOT"

quick=0 workers_list="" rounds="" duration="" out="" only="" lbs="journey haproxy nginx" backends="journey nginx" backends_set=0 install=1 conns=64 threads=2 pin=0 lb_flags="" build_dir=${BUILD_DIR:-build} h2_requests=1 gen_procs=1 tls_versions="1.3 1.2" logs=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --workers) workers_list=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --lbs) lbs=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --gen-procs) gen_procs=$2; shift 2 ;;
    --pin) pin=1; shift ;;
    --lb-flags) lb_flags=$2; shift 2 ;;
    --backends) backends=$2 backends_set=1; shift 2 ;;
    --tls-versions) tls_versions=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --h2-requests) h2_requests=$2; shift 2 ;;
    -h|--help) sed -n '2,47p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ $quick = 1 ]; then
  : "${workers_list:=1}" "${rounds:=1}" "${duration:=2}" "${out:=bench/out}"
  [ "$backends_set" = 1 ] || backends=journey
  mem_counts="500" tunnel_counts="500" h2_counts="500" pool_sizes="3 300" pool_rounds=1 pool_duration=1 short_duration=$duration cg_requests=1000 cg_lbs="journey" sys_requests=2000
else
  : "${workers_list:=1 2}" "${rounds:=3}" "${duration:=4}" "${out:=docs/bench}"
  mem_counts="1000 10000" tunnel_counts="1000" h2_counts="1000" pool_sizes="3 30 300" pool_rounds=2 pool_duration=3 short_duration=$((duration > 3 ? 3 : duration))
  cg_requests=3000 cg_lbs="journey haproxy nginx" sys_requests=10000
fi
cg_small=$((cg_requests / 5)) cg_conns=$((cg_requests / 6)) cg_conns_small=$((cg_requests / 30))
all_workloads="https-ka http-ka tls-new tls-resume tls-close ka-logs latency memory pool callgrind syscalls tunnel h2-m1 h2-m10 h2-idle"
: "${only:=$all_workloads}"
for w in $only; do
  case " $all_workloads " in *" $w "*) ;; *) echo "run.sh: unknown workload '$w' (one of: $all_workloads)" >&2; exit 2 ;; esac
done
case "$rounds$duration$conns$threads$gen_procs" in *[!0-9]*) echo "run.sh: --rounds, --duration, --connections, --threads, --gen-procs take whole numbers" >&2; exit 2 ;; esac
[ "$gen_procs" -ge 1 ] && [ "$gen_procs" -le 32 ] || { echo "run.sh: --gen-procs 1..32" >&2; exit 2; }
[ "$conns" -ge 1 ] && [ "$conns" -le 10000 ] && [ "$threads" -ge 1 ] && [ "$threads" -le "$conns" ] ||
  { echo "run.sh: --connections 1..10000, --threads 1..connections" >&2; exit 2; }
SERVER_CPU=() GEN_CPU=()
if [ $pin = 1 ]; then
  if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU=(taskset -c "1-$(($(nproc) - 1))") GEN_CPU=(taskset -c 0)
  else
    echo "run.sh: --pin needs taskset and 2+ CPUs; running unpinned" >&2
  fi
fi
for v in $tls_versions; do case "$v" in 1.2|1.3) ;; *) echo "run.sh: --tls-versions: 1.3, 1.2" >&2; exit 2 ;; esac; done
for w in $workers_list; do case "$w" in 1|2|3|4) ;; *) echo "run.sh: --workers: 1..4" >&2; exit 2 ;; esac; done
for w in $lbs; do case "$w" in journey|haproxy|nginx) ;; *) echo "run.sh: --lbs: journey, haproxy, nginx" >&2; exit 2 ;; esac; done
for w in $backends; do case "$w" in journey|nginx) ;; *) echo "run.sh: --backends: journey, nginx" >&2; exit 2 ;; esac; done
wants() { case " $only " in *" $1 "*) return 0 ;; esac; return 1; }
started=$(date +%s)

bench_init bench
if [ $install = 1 ]; then
  scripts/install-deps.sh --build --bench >&2 || bench_die "installing the benchmark tools failed (see above); or run with --no-install"
fi
bench_need wrk h2load haproxy nginx gnuplot valgrind callgrind_control strace python3 curl cc
bench_log "building (make build, log in $BENCH_TMP/build.log)"
make build BUILD_DIR="$build_dir" JOBS="${JOBS:-2}" >"$BENCH_TMP/build.log" 2>&1 ||
  { tail -20 "$BENCH_TMP/build.log" >&2; bench_die "make build failed"; }
bench_binaries "$build_dir"
TLSCONN=$build_dir/bench/tlsconn
if [ ! -x "$TLSCONN" ] || [ bench/tlsconn.c -nt "$TLSCONN" ]; then
  mkdir -p "$build_dir/bench"
  cc -O2 -g -Wall -Wextra -Werror bench/tlsconn.c -o "$TLSCONN" -lssl -lcrypto || bench_die "building bench/tlsconn.c failed"
fi

# Enough descriptors for 10 000 client connections plus as many to the backends, per process.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
nofile=$(ulimit -n)
[ "$nofile" -ge 2000 ] || bench_die "ulimit -n is $nofile: at least 2000 open files are needed (more for 10 000 connections)"
# HAProxy insists on 2 descriptors per connection (client and server side) plus a few.
hmaxconn=$(( (nofile - 200) / 2 > 12000 ? 12000 : (nofile - 200) / 2 ))

raw=$out/raw
mkdir -p "$raw"
rm -f "$raw"/records.txt "$raw"/generator-output.log "$raw"/callgrind.* "$raw"/*.cfg "$raw"/*.conf "$raw"/*.cmd "$raw"/*.dat
BENCH_RECORDS=$raw/records.txt
: >"$BENCH_RECORDS"
certs=$BENCH_TMP/certs
bench_certs "$certs"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# Backends: 3 journey-backends; one nginx answering `return 200` on 300 ports (3 for the usual
# workloads, up to 300 for the pool workload), 2 worker processes so it is never the limit.
jb_addrs=() jb_pids=()
for i in 1 2 3; do
  bench_start "backend$i" "${SERVER_CPU[@]}" "$BACKEND_BIN" --listen 127.0.0.1:0 --name "b$i" --no-access-log --workers 1
  jb_pids+=("$BENCH_LAST_PID")
done
for i in 1 2 3; do
  for _ in $(seq 50); do [ -n "$(bench_listen_addrs "backend$i")" ] && break; sleep 0.1; done
  a=$(bench_listen_addrs "backend$i" | head -1)
  [ -n "$a" ] || { cat "$BENCH_TMP/backend$i.err" >&2; bench_die "journey-backend b$i did not start"; }
  jb_addrs+=("$a")
done
body_len=$(curl -s "http://${jb_addrs[0]}/my-app/data" | wc -c)
body=$(python3 -c "import sys; n=int(sys.argv[1]); s='{\"backend\":\"nginx\",\"pad\":\"'; print(s + 'x'*(n-len(s)-2) + '\"}', end='')" "$body_len")
max_pool=300
read -r -a nb_ports <<<"$(bench_free_ports $max_pool)"
nb_addrs=()
bench_nginx_backend_conf "$BENCH_TMP/nginx-backend" "$body" "$nofile" "${nb_ports[@]}"
for p in "${nb_ports[@]}"; do nb_addrs+=("127.0.0.1:$p"); done
cp "$BENCH_TMP/nginx-backend/nginx.conf" "$raw/nginx-backend.conf"
bench_start nginx-backend "${SERVER_CPU[@]}" nginx -p "$BENCH_TMP/nginx-backend" -c "$BENCH_TMP/nginx-backend/nginx.conf"
nb_pid=$BENCH_LAST_PID
bench_wait_http "http://${nb_addrs[0]}/my-app/data" || { cat "$BENCH_TMP/nginx-backend.err" >&2; bench_die "the nginx backend did not start"; }

# ---------------------------------------------------------------------------------------------
# The three load balancers, started with equivalent settings. start_lbs WORKERS ALGO ADDR...
# sets, per LB: PORT_S[lb] (https), PORT_H[lb] (http), PID[lb] and TREE[lb] (its processes).
# With h2_on=1 the HTTPS listeners of HAProxy and nginx offer h2 too (journey-lb does by default).
declare -A PORT_S PORT_H PID TREE
h2_on=0
lb_list="$lbs "
start_lbs() {
  local workers=$1 algo=$2 tag=$3
  shift 3
  local addrs=("$@") i n=$#
  read -r PORT_S[journey] PORT_H[journey] PORT_S[haproxy] PORT_H[haproxy] PORT_S[nginx] PORT_H[nginx] <<<"$(bench_free_ports 6)"

  case " $lb_list " in *" journey "*) ;; *) n=-1 ;; esac
  # journey-lb: the extra response headers HAProxy and nginx do not add are switched off.
  if [ $n -ge 0 ]; then
  local jargs=(--listen "https://127.0.0.1:${PORT_S[journey]}" --listen "http://127.0.0.1:${PORT_H[journey]}"
    --cert "$certs/server.crt" --key "$certs/server.key" --workers "$workers" --algorithm "$algo"
    --access-log "$([ "$logs" = 1 ] && echo on || echo off)" --server-timing off --served-by off --request-id off --log-level warn
    --max-connections 30000)
  for ((i = 0; i < n; i++)); do jargs+=(--backend "s$i=${addrs[i]}"); done
  read -r -a extra_flags <<<"$lb_flags"
  jargs+=("${extra_flags[@]}")
  echo "${LB_WRAP:-}journey-lb ${jargs[*]}" >"$raw/journey-lb-$tag.cmd"
  bench_start "journey-$tag" "${SERVER_CPU[@]}" ${LB_WRAP:-} "$LB_BIN" "${jargs[@]}"
  PID[journey]=$BENCH_LAST_PID
  fi
  n=$#
  case " $lb_list " in *" haproxy "*) ;; *) n=-1 ;; esac
  if [ $n -ge 0 ]; then
  local hcfg=$BENCH_TMP/haproxy-$tag.cfg
  {
    echo "global"
    echo "  nbthread $workers"
    echo "  maxconn $hmaxconn"
    echo "  ssl-default-bind-options ssl-min-ver TLSv1.2"
    if [ "$logs" = 1 ]; then echo "  log stdout format raw local0 info"; fi
    echo "defaults"
    echo "  mode http"
    echo "  timeout connect 3s"
    echo "  timeout client 60s"
    echo "  timeout server 30s"
    echo "  timeout http-request 10s"
    echo "  timeout http-keep-alive 60s"
    echo "  timeout tunnel 1h  # journey-lb's --tunnel-timeout default (used by WebSockets only)"
    echo "  option http-keep-alive"
    echo "  option forwardfor"
    if [ "$logs" = 1 ]; then echo "  log global"; echo "  option httplog"; fi
    echo "  maxconn $hmaxconn"
    echo "frontend fe_https"
    echo "  bind 127.0.0.1:${PORT_S[haproxy]} ssl crt $certs/haproxy.pem alpn $([ $h2_on = 1 ] && echo h2,http/1.1 || echo http/1.1)"
    echo "  http-request set-header X-Forwarded-Proto https"
    echo "  default_backend be"
    echo "frontend fe_http"
    echo "  bind 127.0.0.1:${PORT_H[haproxy]}"
    echo "  http-request set-header X-Forwarded-Proto http"
    echo "  default_backend be"
    echo "backend be"
    echo "  balance $([ "$algo" = least-conn ] && echo leastconn || echo roundrobin)"
    echo "  http-reuse always"
    for ((i = 0; i < n; i++)); do echo "  server s$i ${addrs[i]}"; done
  } >"$hcfg"
  cp "$hcfg" "$raw/haproxy-$tag.cfg"
  bench_start "haproxy-$tag" "${SERVER_CPU[@]}" ${LB_WRAP:-} haproxy -f "$hcfg" -db
  PID[haproxy]=$BENCH_LAST_PID
  fi
  n=$#
  case " $lb_list " in *" nginx "*) ;; *) n=-1 ;; esac
  if [ $n -ge 0 ]; then
  local nd=$BENCH_TMP/nginx-$tag
  mkdir -p "$nd/logs"
  {
    if [ -n "${LB_WRAP:-}" ]; then echo "master_process off;"; fi
    echo "worker_processes $workers; daemon off; pid $nd/nginx.pid;"
    echo "error_log $nd/error.log warn; worker_rlimit_nofile $nofile;"
    echo "events { worker_connections $((nofile - 100)); }"
    echo "http {"
    if [ "$logs" = 1 ]; then echo "  access_log $nd/logs/access.log;"; else echo "  access_log off;"; fi
    for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $nd/$d;"; done
    echo "  keepalive_requests 100000000;  # the others have no per-connection request limit"
    echo "  keepalive_timeout 60s;"
    echo "  upstream be {"
    [ "$algo" = least-conn ] && echo "    least_conn;"
    for ((i = 0; i < n; i++)); do echo "    server ${addrs[i]};"; done
    echo "    keepalive 64; keepalive_requests 100000000; keepalive_timeout 15s;"
    echo "  }"
    echo "  server {"
    # nginx 1.22 (Debian 12) takes h2 as a listen parameter; \`http2 on;\` came in 1.25.1.
    echo "    listen 127.0.0.1:${PORT_S[nginx]} ssl$([ $h2_on = 1 ] && echo ' http2');"
    echo "    listen 127.0.0.1:${PORT_H[nginx]};"
    echo "    ssl_certificate $certs/server.crt; ssl_certificate_key $certs/server.key;"
    echo "    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:20m;"
    echo "    location / {"
    echo "      proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\";"
    echo "      proxy_set_header Host \$host;"
    echo "      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
    echo "      proxy_set_header X-Forwarded-Proto \$scheme;"
    echo "      proxy_buffering on;"
    echo "    }"
    echo "  }"
    echo "}"
  } >"$nd/nginx.conf"
  cp "$nd/nginx.conf" "$raw/nginx-$tag.conf"
  bench_start "nginx-$tag" "${SERVER_CPU[@]}" ${LB_WRAP:-} nginx -p "$nd" -c "$nd/nginx.conf"
  PID[nginx]=$BENCH_LAST_PID
  fi

  local lb limit=${LB_START_SECONDS:-10}
  for lb in $lb_list; do
    bench_wait_http "https://127.0.0.1:${PORT_S[$lb]}/my-app/data" "$limit" &&
      bench_wait_http "http://127.0.0.1:${PORT_H[$lb]}/my-app/data" "$limit" ||
      { cat "$BENCH_TMP/$lb-$tag.err" >&2; bench_die "$lb ($tag) does not answer; its log is above"; }
  done
  for lb in $lb_list; do TREE[$lb]=$(bench_tree "${PID[$lb]}" | tr '\n' ' '); done
}
stop_lbs() {
  local lb
  for lb in $lb_list; do
    bench_stop "${PID[$lb]}" "$([ "$lb" = nginx ] && echo QUIT || echo TERM)"
  done
}
url_of() { # LB https|http
  if [ "$2" = https ]; then echo "https://127.0.0.1:${PORT_S[$1]}/my-app/data"; else echo "http://127.0.0.1:${PORT_H[$1]}/my-app/data"; fi
}

# One measured run of WORKLOAD against LB; FIELDS are the configuration (workers=.. backend=..).
# Appends the generator's output to raw/generator-output.log and one record.
run_one() {
  local workload=$1 lb=$2 round=$3 workers=$4
  shift 4
  local fields="workload=$workload $* lb=$lb round=$round" gen_cap=1 parsed cmd
  case $workload in
    https-ka|http-ka|pool)
      cmd=(wrk -t"$threads" -c"$conns" -d"$([ "$workload" = pool ] && echo "$pool_duration" || echo "$duration")s" --latency "$(url_of "$lb" "$([ "$workload" = https-ka ] && echo https || echo http)")")
      gen_cap=$threads ;;
    tls-new|tls-resume)
      # The certificate is verified (--ca; once per distinct certificate, see bench/tlsconn.c).
      cmd=("$TLSCONN" rate --tls --ca "$certs/ca.crt" --connect "127.0.0.1:${PORT_S[$lb]}" --concurrency 32
           --procs "$gen_procs" --duration "$short_duration")
      [ "$workload" = tls-resume ] && cmd+=(--resume)
      cmd+=(--tls-max "$tls_ver")
      gen_cap=$gen_procs ;;
    tls-close)
      cmd=(wrk -t"$threads" -c16 -d"${short_duration}s" --latency -H "Connection: close" "$(url_of "$lb" https)")
      gen_cap=$threads ;;
    h2-m1|h2-m10)
      rm -f "$BENCH_TMP/h2load.log"
      cmd=(h2load -c "$conns" -m "${workload#h2-m}" -t "$threads" -D "$duration" --log-file "$BENCH_TMP/h2load.log" "$(url_of "$lb" https)")
      gen_cap=$threads ;;
    latency)
      rm -f "$BENCH_TMP/h2load.log"
      cmd=(h2load --h1 -c16 --rps 125 -D "$short_duration" --log-file "$BENCH_TMP/h2load.log" "$(url_of "$lb" https)") ;;
  esac
  BENCH_LB_PIDS=${TREE[$lb]} BENCH_BE_PIDS="${jb_pids[*]} $(bench_tree "$nb_pid" | tr '\n' ' ')"
  bench_measure "${GEN_CPU[@]}" "${cmd[@]}"
  { echo "### $fields: ${cmd[*]}"; cat "$BENCH_TMP/gen.out"; } >>"$raw/generator-output.log"
  case $workload in
    tls-new|tls-resume) parsed=$(bench_parse_tlsconn "$BENCH_TMP/gen.out") || true ;;
    latency|h2-m1|h2-m10) parsed=$(bench_parse_h2load "$BENCH_TMP/gen.out" "$BENCH_TMP/h2load.log") || true ;;
    *) parsed=$(bench_parse_wrk "$BENCH_TMP/gen.out") || true ;;
  esac
  local limit
  limit=$(bench_verdict "$BM_GEN" "$gen_cap" "$BM_LB" "$workers" "$BM_BE" "$BM_OTHER")
  bench_record "$fields $parsed gen=$BM_GEN lb_cpu=$BM_LB lb_sys=$BM_LB_SYS be_cpu=$BM_BE other=$BM_OTHER wall=$BM_WALL limit=$limit"
  printf '%-10s %-8s r%s %s | %s | cores: gen %s lb %s backends %s others %s -> %s\n' \
    "$workload" "$lb" "$round" "$*" "$parsed" "$BM_GEN" "$BM_LB" "$BM_BE" "$BM_OTHER" "$limit" >&2
}

warm_up() { # some traffic through every LB first: backend pools filled, caches warm
  local lb n=$((quick ? 500 : 5000))
  for lb in $lb_list; do
    h2load --h1 -n $n -c 16 "$(url_of "$lb" https)" >/dev/null 2>&1 || true
    h2load --h1 -n $n -c 64 "$(url_of "$lb" http)" >/dev/null 2>&1 || true
  done
}

# ---------------------------------------------------------------------------------------------
# 1-4: throughput and latency, per worker count, per backend kind.
for workers in $workers_list; do
  for backend in $backends; do
    bench_log "workers $workers, $backend backends"
    ws=()
    for w in https-ka http-ka; do wants $w && ws+=("$w"); done
    if [ $backend = journey ]; then
      for w in tls-new tls-resume; do
        if wants $w; then for v in $tls_versions; do ws+=("$w@$v"); done; fi
      done
      for w in tls-close latency; do wants $w && ws+=("$w"); done
    fi
    if [ $backend = journey ]; then addrs=("${jb_addrs[@]}"); else addrs=("${nb_addrs[@]:0:3}"); fi
    if [ ${#ws[@]} -gt 0 ]; then
      start_lbs "$workers" round-robin "w$workers-$backend" "${addrs[@]}"
      warm_up
      for round in $(seq "$rounds"); do
        for w in "${ws[@]}"; do
          tls_ver=${w#*@} extra=""
          case $w in *@*) extra=" tls=$tls_ver" ;; esac
          for lb in $lb_list; do run_one "${w%@*}" "$lb" "$round" "$workers" "workers=$workers backend=$backend-backend$extra"; done
        done
      done
      stop_lbs
    fi
    # The keep-alive workloads again with every LB writing its access log (one line per request).
    if wants ka-logs; then
      bench_log "workers $workers, $backend backends, access logs on"
      logs=1
      start_lbs "$workers" round-robin "w$workers-$backend-logs" "${addrs[@]}"
      logs=0
      warm_up
      for round in $(seq "$rounds"); do
        for w in https-ka http-ka; do
          for lb in $lb_list; do run_one "$w" "$lb" "$round" "$workers" "workers=$workers backend=$backend-backend logs=on"; done
        done
      done
      stop_lbs
      rm -f "$BENCH_TMP"/*-logs.out "$BENCH_TMP"/nginx-*-logs/logs/access.log # up to GBs of lines
    fi
  done
done

# hold_idle LB PORT COUNT WHAT [tlsconn flags]: RSS of LB's processes (rss0), then COUNT idle
# connections held open by `tlsconn hold` (sets held), then RSS again (rss1); the generator's
# output goes to raw/generator-output.log under WHAT.
# With --h2 as the only flag, the connections are HTTP/2 ones held by bench/h2hold.py.
hold_idle() {
  local lb=$1 port=$2 count=$3 what=$4 fifo=$BENCH_TMP/hold.fifo hold_pid f warm=() holder
  shift 4
  if [ "${1:-}" = --h2 ]; then
    holder=(/usr/bin/python3 bench/h2hold.py --ca "$certs/ca.crt" --requests "$h2_requests")
    shift
    h2load -n 200 -c 4 "https://127.0.0.1:$port/my-app/data" >/dev/null 2>&1 || true
  else
    holder=("$TLSCONN" hold)
    for f in "$@"; do [ "$f" = --websocket ] || warm+=("$f"); done # warm-up: plain requests
    "$TLSCONN" rate "${warm[@]}" --connect "127.0.0.1:$port" --concurrency 4 --duration 1 >/dev/null || true
  fi
  rss0=$(bench_rss_kb ${TREE[$lb]})
  rm -f "$fifo" && mkfifo "$fifo"
  "${holder[@]}" "$@" --connect "127.0.0.1:$port" --count "$count" --concurrency 64 --timeout 120 \
    <"$fifo" >"$BENCH_TMP/hold.out" 2>&1 &
  hold_pid=$!
  exec 9>"$fifo"
  for _ in $(seq 1200); do grep -q '^held=' "$BENCH_TMP/hold.out" 2>/dev/null && break; kill -0 $hold_pid 2>/dev/null || break; sleep 0.1; done
  sleep 1 # let the LB settle (pooled backend connections, lazily freed buffers)
  rss1=$(bench_rss_kb ${TREE[$lb]})
  held=$(sed -n 's/^held=\([0-9]*\).*/\1/p' "$BENCH_TMP/hold.out")
  exec 9>&-
  wait $hold_pid || true
  { echo "### $what: ${holder[*]##*/} $* --count $count"; cat "$BENCH_TMP/hold.out"; } >>"$raw/generator-output.log"
}

# measure_idle WORKLOAD LB COUNT HOLD-FLAGS...: hold_idle on LB's HTTPS port, then one record with
# the kB per connection held (1 worker).
measure_idle() {
  local w=$1 lb=$2 count=$3 kb
  shift 3
  hold_idle "$lb" "${PORT_S[$lb]}" "$count" "workload=$w count=$count lb=$lb" "$@"
  kb=$(awk -v a="$rss0" -v b="$rss1" -v n="${held:-0}" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "" }')
  bench_record "workload=$w count=$count workers=1 lb=$lb round=1 rss_before=$rss0 rss_after=$rss1 held=${held:-0} kb_per_conn=$kb"
  bench_log "$w $lb $count connections: held ${held:-0}, RSS $rss0 -> $rss1 kB, ${kb:-no} kB/conn"
}

# 5: memory per idle TLS connection (fresh LBs for each count: freed memory is not given back).
if wants memory; then
  for count in $mem_counts; do
    bench_log "memory: $count idle TLS connections"
    if [ "$count" -gt $((hmaxconn - 100)) ]; then
      bench_log "memory: $count connections do not fit ulimit -n $nofile (HAProxy maxconn $hmaxconn); measuring $((hmaxconn - 100))"
      count=$((hmaxconn - 100))
    fi
    start_lbs 1 round-robin "memory-$count" "${nb_addrs[@]:0:3}"
    for lb in $lb_list; do
      measure_idle memory "$lb" "$count" --tls
      sleep 1
    done
    stop_lbs
  done
fi

# 6: cost growth with the pool size, round-robin and least-conn (nginx backends, 1 worker).
if wants pool; then
  # journey-lb's pools hold at most LB_MAX_SERVERS servers (lb/core/config.h); larger pools are
  # measured for the others only, and the table shows "–" for journey-lb.
  journey_max=$(sed -n 's/^#define LB_MAX_SERVERS \([0-9]*\).*/\1/p' lb/core/config.h)
  lb_list_saved=$lb_list
  for algo in round-robin least-conn; do
    for size in $pool_sizes; do
      bench_log "pool: $size servers, $algo"
      lb_list=$lb_list_saved
      if [ "$size" -gt "${journey_max:-1000000}" ]; then
        bench_log "pool: journey-lb takes at most $journey_max servers per pool (LB_MAX_SERVERS): $size servers for the others only"
        lb_list=${lb_list_saved/journey /}
      fi
      start_lbs 1 "$algo" "pool-$size-$algo" "${nb_addrs[@]:0:$size}"
      warm_up
      for round in $(seq "$pool_rounds"); do
        for lb in $lb_list; do run_one pool "$lb" "$round" 1 "workers=1 algo=$algo pool=$size"; done
      done
      stop_lbs
    done
  done
  lb_list=$lb_list_saved
fi

# 7: instructions under callgrind (1 worker). Keep-alive: after a warm-up, two measured windows on
# 8 new keep-alive connections each: N1 then N2 requests (counters zeroed before, dumped after
# each). Per request = (Ir(N2) - Ir(N1)) / (N2 - N1): the 8 connection setups (TLS handshakes)
# cancel out; what they cost is reported apart, per connection. HTTPS and plain HTTP, access logs
# off and on. New connections: the same two windows with N1 then N2 connections of
# `tlsconn rate --count N` (accept, handshake, one request with Connection: close, close), full
# handshakes and resumed sessions, per TLS version: per connection = difference / difference.
cg_window() { # LB PID TAG GENERATOR... -> CG_IR CG_OK, the dump in $raw/callgrind.LB.TAG.out
  local lb=$1 pid=$2 tag=$3 dump=""
  shift 3
  callgrind_control -z "$pid" >/dev/null 2>&1 || bench_die "callgrind_control -z $pid failed"
  "$@" >"$BENCH_TMP/gen.out" 2>&1 || true
  CG_OK=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^succeeded/) print $i }
               /^connections=/ { for (i = 1; i <= NF; i++) if ($i ~ /^ok=/) print substr($i, 4) }' "$BENCH_TMP/gen.out")
  rm -f "$raw"/callgrind."$lb"."$pid".[0-9]*
  callgrind_control -d "$tag" "$pid" >/dev/null 2>&1 || bench_die "callgrind_control -d $pid failed"
  for _ in $(seq 100); do
    dump=$(compgen -G "$raw/callgrind.$lb.$pid.[0-9]*" | head -1) || true
    [ -n "$dump" ] && break
    sleep 0.1
  done
  [ -n "$dump" ] || bench_die "callgrind wrote no dump for $lb ($raw/callgrind.$lb.$pid.N)"
  sleep 0.5 # let callgrind finish writing it
  CG_IR=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
  mv "$dump" "$raw/callgrind.$lb.$tag.out"
}
# cg_pair LB PID TAG SMALL LARGE GENERATOR-with-N...: two windows, N = SMALL then LARGE (the
# generator's arguments contain the word N, replaced); sets CG_PER (the slope), CG_REST (the
# intercept), CG_N (units in the large window) and CG_IR (its instructions).
cg_pair() {
  local lb=$1 pid=$2 tag=$3 small=$4 large=$5 ir1 ok1 a gen
  shift 5
  gen=(); for a in "$@"; do [ "$a" = N ] && gen+=("$small") || gen+=("$a"); done
  cg_window "$lb" "$pid" "$tag-small" "${gen[@]}"
  ir1=$CG_IR ok1=$CG_OK
  gen=(); for a in "$@"; do [ "$a" = N ] && gen+=("$large") || gen+=("$a"); done
  cg_window "$lb" "$pid" "$tag" "${gen[@]}"
  CG_N=${CG_OK:-0}
  rm -f "$raw/callgrind.$lb.$tag-small.out"
  read -r CG_PER CG_REST < <(awk -v a="$ir1" -v na="${ok1:-0}" -v b="$CG_IR" -v nb="$CG_N" 'BEGIN {
    if (nb > na) { p = (b - a) / (nb - na); printf "%.0f %.0f\n", p, a - na * p } else print "0 0" }')
}
if wants callgrind; then
  lb_list_saved=$lb_list
  for lb in $cg_lbs; do
    case " $lbs " in *" $lb "*) ;; *) continue ;; esac
    lb_list=$lb
    for logs in 0 1; do
      bench_log "callgrind: $lb, access logs $([ $logs = 1 ] && echo on || echo off)"
      LB_WRAP="valgrind --tool=callgrind --callgrind-out-file=$raw/callgrind.$lb.%p --dump-instr=no" LB_START_SECONDS=60 \
        start_lbs 1 round-robin "callgrind-logs$logs" "${nb_addrs[@]:0:3}"
      pid=${PID[$lb]} sfx=$([ $logs = 1 ] && echo "-logs" || true) lf="logs=$([ $logs = 1 ] && echo on || echo off)"
      for proto in https http; do
        h2load --h1 -n 200 -c 8 "$(url_of "$lb" $proto)" >/dev/null 2>&1 || true
        cg_pair "$lb" "$pid" "$proto$sfx" "$cg_small" "$cg_requests" h2load --h1 -n N -c 8 "$(url_of "$lb" $proto)"
        conn=$(awk -v r="$CG_REST" 'BEGIN { printf "%.0f", r / 8 }')
        bench_record "workload=callgrind proto=$proto $lf workers=1 lb=$lb round=1 ir=$CG_IR requests=$CG_N ir_per_req=$CG_PER ir_per_conn=$conn"
        bench_log "callgrind $lb $proto $lf: $CG_PER per request, $conn per new connection ($CG_N requests)"
      done
      # New TLS connections (logs off; with logs on, TLS 1.3 resumed: the browser case).
      for v in $tls_versions; do
        for mode in full resume; do
          [ $logs = 1 ] && { [ "$v" = 1.3 ] && [ $mode = resume ] || continue; }
          flags=(--tls --ca "$certs/ca.crt" --tls-max "$v")
          [ $mode = resume ] && flags+=(--resume)
          "$TLSCONN" rate "${flags[@]}" --connect "127.0.0.1:${PORT_S[$lb]}" --concurrency 8 --count 100 >/dev/null 2>&1 || true
          cg_pair "$lb" "$pid" "conn-$v-$mode$sfx" "$cg_conns_small" "$cg_conns" \
            "$TLSCONN" rate "${flags[@]}" --connect "127.0.0.1:${PORT_S[$lb]}" --concurrency 8 --count N --duration 600
          resumed=$(sed -n 's/.*resumed=\([0-9]*\).*/\1/p' "$BENCH_TMP/gen.out")
          bench_record "workload=callgrind-conn tls=$v handshake=$mode $lf workers=1 lb=$lb round=1 ir=$CG_IR connections=$CG_N resumed=${resumed:-0} ir_per_conn=$CG_PER"
          bench_log "callgrind $lb TLS $v $mode $lf: $CG_PER per new connection ($CG_N connections, ${resumed:-0} resumed)"
        done
      done
      stop_lbs
      rm -f "$raw"/callgrind."$lb".[0-9]*
      [ -s "$BENCH_TMP/$lb-callgrind-logs$logs.err" ] && cp "$BENCH_TMP/$lb-callgrind-logs$logs.err" "$raw/callgrind.$lb$sfx.log"
    done
    logs=0
  done
  lb_list=$lb_list_saved
fi

# 8: system calls per request (strace -c on the LB's processes over a fixed number of keep-alive
# requests): the kernel's share of the cost, which callgrind does not see.
if wants syscalls; then
  bench_log "syscalls: strace -c, 1 worker"
  start_lbs 1 round-robin "syscalls" "${nb_addrs[@]:0:3}"
  for proto in https http; do
    for lb in $lb_list; do
      h2load --h1 -n 500 -c 16 "$(url_of "$lb" $proto)" >/dev/null 2>&1 || true
      sargs=()
      for p in ${TREE[$lb]}; do sargs+=(-p "$p"); done
      strace -c -f -o "$BENCH_TMP/strace.out" "${sargs[@]}" 2>/dev/null &
      spid=$!
      sleep 1 # strace attached
      h2load --h1 -n "$sys_requests" -c 16 "$(url_of "$lb" $proto)" >"$BENCH_TMP/gen.out" 2>&1 || true
      kill -INT $spid 2>/dev/null || true
      wait $spid 2>/dev/null || true
      ok=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^succeeded/) print $i }' "$BENCH_TMP/gen.out")
      calls=$(awk '$NF == "total" {print $4}' "$BENCH_TMP/strace.out")
      { echo "### workload=syscalls proto=$proto lb=$lb requests=${ok:-0}"; cat "$BENCH_TMP/strace.out"; } >>"$raw/strace.txt"
      per=$(awk -v c="${calls:-0}" -v n="${ok:-0}" 'BEGIN { if (n > 0) printf "%.2f", c / n }')
      bench_record "workload=syscalls proto=$proto workers=1 lb=$lb round=1 calls=${calls:-0} requests=${ok:-0} calls_per_req=$per"
      bench_log "syscalls $lb $proto: ${calls:-0} for ${ok:-0} requests: $per per request"
    done
  done
  stop_lbs
fi

# 9: memory per idle WebSocket tunnel: `tlsconn hold --websocket` opens N tunnels to the
# journey-backends' /ws echo through each LB and leaves them idle. Fresh LBs per scheme and count.
# Against HAProxy only: the nginx config here clears Connection for upstream keep-alive, and nginx
# tunnels only where Upgrade/Connection are set per location.
if wants tunnel; then
  lb_list_saved=$lb_list
  lb_list=""
  for lb in journey haproxy; do case " $lb_list_saved " in *" $lb "*) lb_list+="$lb " ;; esac; done
  for scheme in https http; do
    for count in $tunnel_counts; do
      if [ "$count" -gt $((hmaxconn / 2 - 100)) ]; then count=$((hmaxconn / 2 - 100)); fi
      bench_log "tunnel: $count idle WebSocket tunnels, $scheme"
      start_lbs 1 round-robin "tunnel-$scheme-$count" "${jb_addrs[@]}"
      for lb in $lb_list; do
        if [ $scheme = https ]; then
          hold_idle "$lb" "${PORT_S[$lb]}" "$count" "workload=tunnel scheme=$scheme lb=$lb" --tls --websocket
        else
          hold_idle "$lb" "${PORT_H[$lb]}" "$count" "workload=tunnel scheme=$scheme lb=$lb" --websocket
        fi
        kb=$(awk -v a="$rss0" -v b="$rss1" -v n="${held:-0}" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "" }')
        bench_record "workload=tunnel scheme=$scheme count=$count workers=1 lb=$lb round=1 rss_before=$rss0 rss_after=$rss1 held=${held:-0} kb_per_tunnel=$kb"
        bench_log "tunnel $lb $scheme: held ${held:-0} of $count, RSS $rss0 -> $rss1 kB, ${kb:-no} kB/tunnel"
        [ "${held:-0}" -gt 0 ] || bench_log "tunnel: $lb held no tunnel (does it forward Upgrade: websocket?); see raw/generator-output.log"
        sleep 1
      done
      stop_lbs
    done
  done
  lb_list=$lb_list_saved
fi

# 10: HTTP/2 over TLS (journey-backends): h2load with 1 and 10 streams in flight per connection,
# interleaved rounds; then memory per idle h2 connection (1 worker, fresh LBs). An LB whose ALPN
# does not give h2 (curl --http2 says %{http_version} 1.1) is not measured: its record says
# error=not-negotiated and its row "not negotiated".
h2_speaks() { # LB: does its HTTPS listener negotiate h2?
  [ "$(curl -sk --http2 -o /dev/null --max-time 5 -w '%{http_version}' "$(url_of "$1" https)")" = 2 ]
}
h2_ws=()
for w in h2-m1 h2-m10; do wants $w && h2_ws+=("$w"); done
if [ ${#h2_ws[@]} -gt 0 ]; then
  h2_on=1
  for workers in $workers_list; do
    bench_log "h2: workers $workers, journey backends"
    start_lbs "$workers" round-robin "h2-w$workers" "${jb_addrs[@]}"
    declare -A H2OK=()
    for lb in $lb_list; do
      if h2_speaks "$lb"; then H2OK[$lb]=1; else
        H2OK[$lb]=0
        bench_log "h2: $lb does not negotiate h2 (ALPN gave http/1.1): its h2 rows say not negotiated"
      fi
      [ "${H2OK[$lb]}" = 1 ] && { h2load -n $((quick ? 500 : 5000)) -c 16 -m 10 "$(url_of "$lb" https)" >/dev/null 2>&1 || true; }
    done
    for round in $(seq "$rounds"); do
      for w in "${h2_ws[@]}"; do
        for lb in $lb_list; do
          if [ "${H2OK[$lb]}" = 1 ]; then
            run_one "$w" "$lb" "$round" "$workers" "workers=$workers backend=journey-backend"
          else
            bench_record "workload=$w workers=$workers backend=journey-backend lb=$lb round=$round error=not-negotiated"
          fi
        done
      done
    done
    stop_lbs
  done
  h2_on=0
fi
if wants h2-idle; then
  h2_on=1
  for count in $h2_counts; do
    bench_log "h2-idle: $count idle HTTP/2 connections"
    start_lbs 1 round-robin "h2-idle-$count" "${nb_addrs[@]:0:3}"
    for lb in $lb_list; do
      if ! h2_speaks "$lb"; then
        bench_log "h2-idle: $lb does not negotiate h2: not measured"
        bench_record "workload=h2-idle count=$count workers=1 lb=$lb round=1 error=not-negotiated"
        continue
      fi
      measure_idle h2-idle "$lb" "$count" --h2
      sleep 1
    done
    stop_lbs
  done
  h2_on=0
fi

# ---------------------------------------------------------------------------------------------
# True when a tracked file differs from HEAD, the results directory aside (it may lie inside the
# repository or outside it; git refuses an exclude pathspec outside, which once read as "changed").
tracked_files_changed() {
  local rel
  rel=$(realpath -m --relative-to=. "$out")
  case $rel in
    ..|../*) ! git diff --quiet HEAD -- . 2>/dev/null ;;
    *) ! git diff --quiet HEAD -- . ":(exclude)$rel" 2>/dev/null ;;
  esac
}
# Results page: machine, versions, commands, then report.py's tables, targets and plots.
elapsed=$(($(date +%s) - started))
meta=$BENCH_TMP/meta.md
{
  echo "# Benchmarks: journey-lb vs HAProxy vs nginx"
  echo
  echo "Generated by \`bench/run.sh $([ $quick = 1 ] && echo --quick)\` on $(date -u +%Y-%m-%dT%H:%MZ) in ${elapsed} s"
  echo "(commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(tracked_files_changed && echo ', with uncommitted changes'))."
  echo "Everything on loopback on one machine; figures are only comparable within this page."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores; RAM $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r)"
  echo "- Load average (1/5/15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg). The"
  echo "  machine is shared: the \`others\` CPU column in raw/records.txt is what other processes used during each round."
  [ -n "$lb_flags" ] && echo "- Extra journey-lb flags (--lb-flags): \`$lb_flags\`"
  echo "- Open files limit: $nofile; pinned: $([ ${#GEN_CPU[@]} -gt 0 ] && echo "load generators on CPU 0, servers on CPUs 1-$(($(nproc) - 1))" || echo no)"
  echo
  echo "## Versions"
  echo
  echo "- journey-lb: $("$LB_BIN" --version 2>&1 | head -1)"
  echo "- HAProxy: $(haproxy -v 2>&1 | head -1)"
  echo "- nginx: $(nginx -v 2>&1 | head -1)"
  echo "- OpenSSL: $(openssl version)"
  echo "- wrk: $(wrk -v 2>&1 | head -1 | cut -c1-60); h2load: $(h2load --version 2>&1 | head -1); valgrind: $(valgrind --version)"
  echo
  echo "## Setup and exact commands"
  echo
  echo "- Workers: journey-lb \`--workers W\`, HAProxy \`nbthread W\`, nginx \`worker_processes W\`; W = $workers_list."
  echo "  memory, pool and callgrind: W = 1. Rounds: $rounds, interleaved (journey-lb, HAProxy, nginx, journey-lb, ...),"
  echo "  $duration s each for keep-alive, $short_duration s for new connections and latency."
  echo "- Certificate: ECDSA P-256 from certs/make-certs.sh, the same file for all three; TLS 1.3 negotiated (OpenSSL defaults)."
  echo "- Equivalent configs: round-robin (least-conn in the pool workload), keep-alive to the backends,"
  echo "  access logs off (on in the rows marked logs=on: journey-lb's default access log to stdout, HAProxy"
  echo "  \`log stdout\` + \`option httplog\`, nginx \`access_log\` to a file), X-Forwarded-For/-Proto added by all three; journey-lb's own extra headers"
  echo "  (Server-Timing, X-Served-By, X-Request-Id) off since the others do not add them."
  echo "  Exact command lines and configs: raw/journey-lb-*.cmd, raw/haproxy-*.cfg, raw/nginx-*.conf."
  echo "- Backends: 3 \`journey-backend --no-access-log\` processes (\`journey-backend\` rows) or one nginx"
  echo "  (2 workers) answering \`return 200\` with a body of the same length ($body_len bytes) on 3..300 ports"
  echo "  (\`nginx-backend\` rows; raw/nginx-backend.conf)."
  echo "- Load generators (raw/generator-output.log has every run's command and output):"
  echo "  - https-ka/http-ka: \`wrk -t$threads -c$conns -d${duration}s --latency URL\`; pool: the same for ${pool_duration} s, $pool_rounds rounds"
  echo "  - tls-new: \`bench/tlsconn rate --tls --ca ca.crt --tls-max V --concurrency 32 --procs $gen_procs --duration $short_duration\`, V = $tls_versions; tls-resume: the same with \`--resume\`"
  echo "  - tls-close: \`wrk -t$threads -c16 -d${short_duration}s -H 'Connection: close' URL\` (HTTPS; wrk offers its TLS 1.3 session again on each connection)"
  echo "  - latency: \`h2load --h1 -c16 --rps 125 -D $short_duration --log-file F URL\` (2 000 req/s in total)"
  echo "  - memory: \`bench/tlsconn hold --tls --count N --concurrency 64\`, RSS (VmRSS of all the LB's processes) before and after"
  echo "  - callgrind: \`valgrind --tool=callgrind\` around each LB (1 worker); after 200 warm-up requests, two windows"
  echo "    (\`callgrind_control -z\`, \`h2load --h1 -n N -c 8 URL\`, \`callgrind_control -d\`) with N = $((cg_requests / 5)) and $cg_requests;"
  echo "    per request = difference of instructions / difference of requests (the 8 connection setups cancel out);"
  echo "    access logs off and on. Per new TLS connection (callgrind-conn): the same with \`tlsconn rate --count N --concurrency 8\`,"
  echo "    N = $cg_conns_small and $cg_conns, full and --resume, TLS $tls_versions."
  echo "    Profiles of the N = $cg_requests window (8 new connections included) in raw/callgrind.*.out"
  echo "  - syscalls: \`strace -c -f -p PID...\` attached to the LB's processes over \`h2load --h1 -n $sys_requests -c 16 URL\`; raw/strace.txt"
  echo "  - tunnel: \`bench/tlsconn hold --websocket [--tls] --count N --concurrency 64\` (WebSocket handshakes to the"
  echo "    journey-backends' /ws, answered 101, then idle), RSS of the LB's processes before and after; HAProxy with"
  echo "    \`timeout tunnel 1h\` (journey-lb's --tunnel-timeout default); nginx not measured (its config here is not a WebSocket one)"
  echo "  - h2-m1/h2-m10: \`h2load -c$conns -m 1|10 -t$threads -D ${duration} --log-file F URL\` over TLS with ALPN h2 (HAProxy"
  echo "    \`bind ... alpn h2,http/1.1\`, nginx \`listen ... ssl http2\`, journey-lb's default ALPN), journey-backends behind;"
  echo "    an LB whose ALPN gives http/1.1 (\`curl --http2 -w %{http_version}\`) is not measured: \"not negotiated\""
  echo "  - h2-idle: \`bench/h2hold.py --count N --concurrency 64 --requests $h2_requests\` (N h2 connections, $h2_requests request(s) each, then idle), RSS before and after"
  echo "- CPU accounting per round: utime+stime from /proc/PID/stat of the LB's processes and the backends, the"
  echo "  load generator's from the shell's children times, the machine's from /proc/stat; in cores (1.0 = one CPU busy)."
  echo
} >"$meta"
top_functions() { # callgrind profile -> its N most expensive functions (self cost); the thread
  # entry functions that were on the stack when the counters were zeroed show as 100% and are left out
  callgrind_annotate --auto=no --threshold=100 --inclusive=no "$1" 2>/dev/null |
    sed -n '/file:function/,$p' | grep -v '(100.0%)' | sed 's/ \[\(.*\/\)\{0,1\}\([^/]*\)\]$/  [\2]/' | head -"$2" || true
}
tail=$BENCH_TMP/profile.md
if [ -s "$raw/callgrind.journey.https.out" ]; then
  {
    echo "## Where journey-lb's instructions go (callgrind, HTTPS keep-alive, top functions)"
    echo
    echo '```'
    top_functions "$raw/callgrind.journey.https.out" 28
    echo '```'
    echo
    echo "Plain HTTP:"
    echo
    echo '```'
    top_functions "$raw/callgrind.journey.http.out" 20
    echo '```'
    echo
    [ -f "$out/ANALYSIS.md" ] && echo "Analysis of these figures: [ANALYSIS.md](ANALYSIS.md)."
  } >"$tail"
fi
python3 bench/report.py --records "$BENCH_RECORDS" --results "$out" --meta "$meta" --tail "$tail"
bench_table
bench_log "done in ${elapsed} s: $out/RESULTS.md"
