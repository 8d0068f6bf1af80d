# Shared shell of the benchmark scripts (sourced, not run): processes started and stopped by PID,
# free loopback ports, CPU and memory accounting from /proc, wrk/h2load/tlsconn output parsing,
# one record per measured run, and the tables (bench/report.py does the statistics, once).
#
#   . "$(dirname "$0")/lib.sh"     then call bench_init NAME first.
#
# Records: bench_record appends one line of key=value fields to $BENCH_RECORDS; report.py groups
# them by every field that is not a measurement and prints medians, min-max and ratios.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_ROOT=$(cd "$BENCH_DIR/.." && pwd)
BENCH_PIDS=()
BENCH_NAME=bench
BENCH_HZ=$(getconf CLK_TCK)

bench_die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
bench_log() { echo "$BENCH_NAME: [$(date +%H:%M:%S) +${SECONDS}s] $*" >&2; }

# bench_init NAME: a temporary directory ($BENCH_TMP) and a trap that stops what was started.
bench_init() {
  BENCH_NAME=$1
  BENCH_TMP=$(mktemp -d "/tmp/journey-$1.XXXXXX")
  BENCH_RECORDS=${BENCH_RECORDS:-$BENCH_TMP/records.txt}
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  bench_stop_all
  [ -n "${BENCH_KEEP_TMP:-}" ] || rm -rf "$BENCH_TMP"
}

# bench_need TOOL...: every tool present, else say how to get it.
bench_need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || bench_die "'$t' not found: run scripts/install-deps.sh --bench"
  done
}

# bench_binaries BUILD_DIR: sets LB_BIN and BACKEND_BIN, checking they are built.
bench_binaries() {
  LB_BIN=$1/lb/journey-lb
  BACKEND_BIN=$1/backend/journey-backend
  [ -x "$LB_BIN" ] && [ -x "$BACKEND_BIN" ] || bench_die "build first (make build): $LB_BIN or $BACKEND_BIN missing"
}

# bench_certs DIR: the ECDSA P-256 development certificate (certs/make-certs.sh) plus the
# key+chain PEM that HAProxy wants.
bench_certs() {
  "$BENCH_ROOT/certs/make-certs.sh" --out "$1" >/dev/null || bench_die "certs/make-certs.sh failed"
  cat "$1/server.crt" "$1/server.key" >"$1/haproxy.pem"
}

# bench_free_ports N: N distinct loopback TCP ports, free now and below the kernel's ephemeral
# range, so that the outgoing connections of a busy machine cannot take them before we bind.
bench_free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
top = max(min(lo, 32768), 21000)
got = []
while len(got) < int(sys.argv[1]):
    p = random.randrange(20000, top)
    if p in got:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); got.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(*got)
PY
}

# bench_nginx_backend_conf DIR BODY NOFILE PORT...: DIR/nginx.conf for one nginx (2 workers) that
# answers every path with `return 200 BODY` on each loopback PORT: a backend that is never the limit.
bench_nginx_backend_conf() {
  local dir=$1 body=$2 nofile=$3 d p
  shift 3
  mkdir -p "$dir/logs"
  {
    echo "worker_processes 2; daemon off; pid $dir/nginx.pid;"
    echo "error_log $dir/error.log warn; worker_rlimit_nofile $nofile;"
    echo "events { worker_connections $((nofile - 100)); }"
    echo "http { access_log off; keepalive_requests 100000000; keepalive_timeout 120s;"
    for d in client_body proxy fastcgi uwsgi scgi; do echo "  ${d}_temp_path $dir/$d;"; done
    echo "  server {"
    for p in "$@"; do echo "    listen 127.0.0.1:$p;"; done
    echo "    location / { default_type application/json; return 200 '$body'; }"
    echo "  }"
    echo "}"
  } >"$dir/nginx.conf"
}

# bench_start NAME CMD...: runs CMD in the background, stdout/stderr in $BENCH_TMP/NAME.out/.err;
# its PID in BENCH_LAST_PID and in the list that bench_stop_all stops.
bench_start() {
  local name=$1
  shift
  "$@" >"$BENCH_TMP/$name.out" 2>"$BENCH_TMP/$name.err" &
  BENCH_LAST_PID=$!
  BENCH_PIDS+=("$BENCH_LAST_PID")
}

# bench_stop PID [SIGNAL]: signal (TERM), wait up to 5 s, then KILL; only this PID.
bench_stop() {
  local pid=$1 sig=${2:-TERM} i
  if kill -0 "$pid" 2>/dev/null; then
    kill -"$sig" "$pid" 2>/dev/null || true
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
  return 0
}

bench_stop_all() {
  local i
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do bench_stop "${BENCH_PIDS[i]}"; done
  return 0
}

# bench_wait_http URL [SECONDS]: until URL answers 2xx (curl -k: the benchmark certificate).
bench_wait_http() {
  local url=$1 limit=${2:-10} i
  for i in $(seq $((limit * 10))); do
    curl -sfk -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.1
  done
  return 1
}

# bench_listen_addr NAME: the address journey-backend logged ("msg=listening addr=...").
bench_listen_addrs() {
  sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$BENCH_TMP/$1.err"
}

# bench_tree PID...: the PIDs and their child processes (nginx master and workers).
bench_tree() {
  local p c
  for p in "$@"; do
    echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do bench_tree "$c"; done
  done
}

# bench_proc_sum FILE AWK-PROGRAM PID...: a figure of each process from /proc/PID/FILE, summed
# (a process gone meanwhile counts 0).
bench_proc_sum() {
  local file=$1 prog=$2 t=0 p v
  shift 2
  for p in "$@"; do
    v=$(awk "$prog" /proc/"$p"/"$file" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
# utime+stime (clock ticks) of the processes, all threads included; resident memory (kB).
bench_cpu_ticks() { bench_proc_sum stat '{print $14 + $15}' "$@"; }
bench_sys_ticks() { bench_proc_sum stat '{print $15}' "$@"; }
bench_rss_kb() { bench_proc_sum status '/^VmRSS:/ {print $2}' "$@"; }

# Busy ticks of the whole machine (all CPUs), to see how much the other tenants used.
bench_machine_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# Children CPU seconds of this shell, into BENCH_CHILD_CPU (the `times` builtin; called without
# $(...), since a subshell would report its own children).
bench_children_cpu() {
  local f=$BENCH_TMP/.times
  times >"$f"
  BENCH_CHILD_CPU=$(awk 'NR == 2 {
    n = split($0, a, " "); s = 0
    for (i = 1; i <= n; i++) { split(a[i], b, "m"); sub("s", "", b[2]); s += b[1] * 60 + b[2] }
    printf "%.3f\n", s }' "$f")
}

# bench_measure CMD...: runs the load generator CMD in the foreground (output in $BENCH_TMP/gen.out)
# with CPU accounting over the run. Set BENCH_LB_PIDS and BENCH_BE_PIDS (space-separated) first.
# Sets BM_WALL (s) and the CPU used over the run, in cores: BM_GEN (load generator), BM_LB
# (BM_LB_SYS of it in the kernel), BM_BE (backends), BM_OTHER (everything else on the machine).
bench_measure() {
  local lb0 be0 m0 g0 t0 lb1 be1 m1 g1 t1 ls0 ls1
  lb0=$(bench_cpu_ticks $BENCH_LB_PIDS)
  ls0=$(bench_sys_ticks $BENCH_LB_PIDS)
  be0=$(bench_cpu_ticks $BENCH_BE_PIDS)
  m0=$(bench_machine_busy)
  bench_children_cpu
  g0=$BENCH_CHILD_CPU
  t0=$(date +%s.%N)
  "$@" >"$BENCH_TMP/gen.out" 2>&1 && BM_RC=0 || BM_RC=$?
  t1=$(date +%s.%N)
  bench_children_cpu
  g1=$BENCH_CHILD_CPU
  m1=$(bench_machine_busy)
  lb1=$(bench_cpu_ticks $BENCH_LB_PIDS)
  ls1=$(bench_sys_ticks $BENCH_LB_PIDS)
  be1=$(bench_cpu_ticks $BENCH_BE_PIDS)
  read -r BM_WALL BM_GEN BM_LB BM_BE BM_OTHER BM_LB_SYS < <(awk -v t0="$t0" -v t1="$t1" -v g0="$g0" -v g1="$g1" \
    -v lb=$((lb1 - lb0)) -v ls=$((ls1 - ls0)) -v be=$((be1 - be0)) -v m=$((m1 - m0)) -v hz="$BENCH_HZ" 'BEGIN {
      w = t1 - t0; if (w <= 0) w = 1e-9; g = g1 - g0
      o = (m / hz - lb / hz - be / hz - g) / w; if (o < 0) o = 0
      printf "%.3f %.2f %.3f %.2f %.2f %.3f\n", w, g / w, lb / hz / w, be / hz / w, o, ls / hz / w }')
  return 0
}

# bench_verdict GEN_CORES GEN_CAPACITY LB_CORES LB_CAPACITY BACKEND_CORES OTHER_CORES: which side
# was the limit: the LB or the generator when it used 90% of its threads, else "machine" when all
# the CPUs were busy, "none" when both used under half of theirs (a fixed-rate run), else the
# side nearest its own limit.
bench_verdict() {
  awk -v g="$1" -v gc="$2" -v l="$3" -v lc="$4" -v b="$5" -v o="$6" -v n="$(nproc)" 'BEGIN {
    fg = g / gc; fl = l / lc
    if (g + l + b + o >= 0.9 * n && fg < 0.9 && fl < 0.9) print "machine"
    else if (fg < 0.5 && fl < 0.5) print "none"
    else if (fl >= fg) print "lb"
    else print "generator" }'
}

# Parsers of the load generators' output; each prints "key=value ..." (latencies in ms).
# wrk --latency: requests/s, p50, p99, non-2xx and socket errors.
bench_parse_wrk() {
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
                     if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { bad += $NF }
    /Socket errors:/ { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) err += $i }
    END { if (rps == "") { print "error=unparsed"; exit 1 }
          printf "rps=%s p50=%.3f p99=%.3f non2xx=%d errors=%d\n", rps, p50, p99, bad, err }' "$1"
}

# h2load summary plus its --log-file (one line per request: start us, status, duration us).
bench_parse_h2load() {
  local out=$1 log=$2
  awk -F'\t' '$2 == 200 { print $3 / 1000 }' "$log" | sort -g >"$BENCH_TMP/.lat"
  awk -v latf="$BENCH_TMP/.lat" '
    /^finished in/ { for (i = 1; i <= NF; i++) if ($i == "req/s,") rps = $(i - 1) }
    /^requests:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^failed/) failed = $i; if ($(i+1) ~ /^errored/) errored = $i } }
    /^status codes:/ { bad = $5 + $7 + $9 }
    END {
      n = 0
      while ((getline v < latf) > 0) d[++n] = v
      if (n == 0 || rps == "") { print "error=unparsed"; exit 1 }
      printf "rps=%s p50=%.3f p99=%.3f p999=%.3f max=%.3f requests=%d non2xx=%d errors=%d\n", rps,
        d[int(n * 0.50) + 1], d[int(n * 0.99) + 1], d[int(n * 0.999) + 1], d[n], n, bad, failed + errored }' "$out"
}

# tlsconn rate: connections/s (ok), failures, share resumed.
bench_parse_tlsconn() {
  awk '/^connections=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
         printf "rps=%s errors=%d resumed=%d connections=%d\n", v["per_s"], v["failed"], v["resumed"], v["ok"]; found = 1 }
       END { if (!found) { print "error=unparsed"; exit 1 } }' "$1"
}

# bench_record key=value...: one measured run, as one line of the records file.
bench_record() { echo "$*" >>"$BENCH_RECORDS"; }

# bench_table [report.py options]: medians, min-max and ratios of the records, as text.
bench_table() { python3 "$BENCH_DIR/report.py" --records "$BENCH_RECORDS" "$@"; }
