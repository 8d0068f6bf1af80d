#!/usr/bin/env bash
# Cost per request of journey-lb against the size of its pool (issue 9: "flat cost from 3 to 300
# backends"), round-robin and least-conn; a focused, more repeatable form of bench/run.sh's pool
# workload.
#
#   bench/pool-cost.sh [--sizes "3 30 300"] [--algos "round-robin least-conn"] [--rounds N]
#                      [--duration S] [--callgrind] [--cache-sim] [--lbs "journey haproxy"]
#                      [--requests N] [--lb-bin PATH] [--baseline PATH] [--build-dir DIR]
#                      [--out DIR]
#
# One nginx answers `return 200` on max(sizes) loopback ports (2 worker processes, never the limit).
# Default (wrk): for one algorithm at a time, a journey-lb and an HAProxy per pool size (1 worker
# each, plain HTTP, keep-alive to the backends, logs off, the settings of bench/run.sh) are started
# together, then N rounds of `wrk -t2 -c64` visit them in turn (journey-lb 3, HAProxy 3, journey-lb
# 30, ...), so that the machine's other load falls on every configuration alike: LB CPU µs per
# request (from /proc), medians, journey-lb/HAProxy, and each LB's largest/smallest pool ratio.
# --callgrind: each LB of --lbs (journey) alone under valgrind --tool=callgrind, per size and
# algorithm: after 3 000 warm-up requests (every server gets pooled connections), two windows of
# N/5 and N requests (h2load --h1 -c64); instructions per request = the difference / (N - N/5), a
# figure that does not depend on the machine's load; --cache-sim adds callgrind's simulated data
# cache misses per request, first level (64 kB) and a 1 MiB 8-way last level (this machine's L2
# per core: the level that 300 servers' connections outgrow). --lb-bin: another journey-lb binary;
# --baseline PATH (wrk mode): a second journey-lb binary measured in the same rounds (lb=baseline).
# Loopback only; every process started is stopped by its PID. Output: tables on stdout, records in
# DIR (bench/out/pool-cost).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$BENCH_ROOT"

sizes="3 30 300" algos="round-robin least-conn" rounds=5 duration=3 callgrind=0 requests=10000
cache_sim=no cg_lbs=journey
lb_bin="" baseline="" build_dir=${BUILD_DIR:-build} out=bench/out/pool-cost
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --algos) algos=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --callgrind) callgrind=1; shift ;;
    --cache-sim) cache_sim=yes; shift ;;
    --lbs) cg_lbs=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --lb-bin) lb_bin=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pool-cost.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$rounds$duration$requests${sizes// /}" in *[!0-9]*) echo "pool-cost.sh: --rounds, --duration, --requests, --sizes take whole numbers" >&2; exit 2 ;; esac
for a in $cg_lbs; do case "$a" in journey|haproxy) ;; *) echo "pool-cost.sh: --lbs: journey, haproxy" >&2; exit 2 ;; esac; done
for a in $algos; do case "$a" in round-robin|least-conn) ;; *) echo "pool-cost.sh: --algos: round-robin, least-conn" >&2; exit 2 ;; esac; done
max_size=0
for s in $sizes; do [ "$s" -ge 1 ] && [ "$s" -le 500 ] || { echo "pool-cost.sh: --sizes: 1..500" >&2; exit 2; }; [ "$s" -gt $max_size ] && max_size=$s; done

bench_init pool-cost
bench_binaries "$build_dir"
[ -z "$lb_bin" ] || { [ -x "$lb_bin" ] || bench_die "--lb-bin $lb_bin: not an executable"; LB_BIN=$lb_bin; }
[ -z "$baseline" ] || [ -x "$baseline" ] || bench_die "--baseline $baseline: not an executable"
wrk_lbs="journey haproxy${baseline:+ baseline}"
if [ $callgrind = 1 ]; then bench_need valgrind callgrind_control h2load nginx haproxy curl; else bench_need wrk haproxy nginx curl; fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$out"
BENCH_RECORDS=$out/records.txt
: >"$BENCH_RECORDS"
rm -f "$out/cache-misses.txt"

# The backends: one nginx on max_size ports.
read -r -a ports <<<"$(bench_free_ports "$max_size")"
nd=$BENCH_TMP/nginx-backend addrs=()
bench_nginx_backend_conf "$nd" '{"backend":"nginx"}' 4100 "${ports[@]}"
for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
bench_start nginx-backend nginx -p "$nd" -c "$nd/nginx.conf"
nb_pid=$BENCH_LAST_PID
bench_wait_http "http://${addrs[0]}/" || { cat "$BENCH_TMP/nginx-backend.err" >&2; bench_die "the nginx backend did not start"; }

declare -A PORT PID
start_journey() { # TAG ALGO SIZE [WRAP...] (BIN: the binary, $LB_BIN unless set)
  local tag=$1 algo=$2 size=$3 i
  shift 3
  PORT[$tag]=$(bench_free_ports 1)
  local args=(--listen "http://127.0.0.1:${PORT[$tag]}" --workers 1 --algorithm "$algo"
    --access-log off --server-timing off --served-by off --request-id off --log-level warn
    --max-connections 30000 --backend-idle-max 64)
  for ((i = 0; i < size; i++)); do args+=(--backend "s$i=${addrs[i]}"); done
  bench_start "$tag" "$@" "${BIN:-$LB_BIN}" "${args[@]}"
  PID[$tag]=$BENCH_LAST_PID
}
start_haproxy() { # TAG ALGO SIZE [WRAP...]
  local tag=$1 algo=$2 size=$3 i cfg=$BENCH_TMP/$1.cfg
  shift 3
  PORT[$tag]=$(bench_free_ports 1)
  {
    printf 'global\n  nbthread 1\n  maxconn 4000\ndefaults\n  mode http\n  timeout connect 3s\n'
    printf '  timeout client 60s\n  timeout server 30s\n  timeout http-request 10s\n'
    printf '  timeout http-keep-alive 60s\n  option http-keep-alive\n  option forwardfor\n  maxconn 4000\n'
    printf 'frontend fe\n  bind 127.0.0.1:%s\n  http-request set-header X-Forwarded-Proto http\n' "${PORT[$tag]}"
    printf '  default_backend be\nbackend be\n  balance %s\n  http-reuse always\n' "$([ "$algo" = least-conn ] && echo leastconn || echo roundrobin)"
    for ((i = 0; i < size; i++)); do echo "  server s$i ${addrs[i]}"; done
  } >"$cfg"
  bench_start "$tag" "$@" haproxy -f "$cfg" -db
  PID[$tag]=$BENCH_LAST_PID
}
wait_up() { # TAG SECONDS
  bench_wait_http "http://127.0.0.1:${PORT[$1]}/" "$2" || { cat "$BENCH_TMP/$1.err" >&2; bench_die "$1 does not answer; its log is above"; }
}
url() { echo "http://127.0.0.1:${PORT[$1]}/my-app/data"; }

if [ $callgrind = 1 ]; then
  small=$((requests / 5))
  window() { # TAG PID N -> EV (events: Ir ...) OK
    local tag=$1 pid=$2 n=$3 dump=""
    callgrind_control -z "$pid" >/dev/null 2>&1 || bench_die "callgrind_control -z $pid failed"
    h2load --h1 -n "$n" -c 64 "$(url "$tag")" >"$BENCH_TMP/gen.out" 2>&1 || true
    OK=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^succeeded/) print $i }' "$BENCH_TMP/gen.out")
    callgrind_control -d "$tag" "$pid" >/dev/null 2>&1 || bench_die "callgrind_control -d $pid failed"
    for _ in $(seq 100); do dump=$(compgen -G "$out/callgrind.$pid.[0-9]*" | head -1) && break; sleep 0.1; done
    [ -n "$dump" ] || bench_die "callgrind wrote no dump ($out/callgrind.$pid.N)"
    sleep 0.5
    # Ir, D1 misses (D1mr + D1mw) and LL data misses (DLmr + DLmw), by the names of `events:`
    EV=$(awk '/^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
      /^(summary|totals):/ { printf "%d %d %d", $col["Ir"], $col["D1mr"] + $col["D1mw"], $col["DLmr"] + $col["DLmw"]; exit }' "$dump")
    mv "$dump" "$out/callgrind.$tag.$n.out"
  }
  per() { # EV1 OK1 EV2 OK2 COLUMN -> the column's cost per request
    awk -v a="$1" -v na="$2" -v b="$3" -v nb="$4" -v c="$5" 'BEGIN { split(a, x, " "); split(b, y, " ")
      if (nb > na) printf "%.0f", (y[c] - x[c]) / (nb - na); else print 0 }'
  }
  for algo in $algos; do
    for size in $sizes; do
      for lb in $cg_lbs; do
        tag=$lb-$algo-$size
        "start_$lb" "$tag" "$algo" "$size" valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" \
          --dump-instr=no --cache-sim=$cache_sim $([ $cache_sim = no ] || echo --D1=65536,8,64 --LL=1048576,8,64)
        wait_up "$tag" 60
        h2load --h1 -n 3000 -c 64 "$(url "$tag")" >/dev/null 2>&1 || true
        window "$tag" "${PID[$tag]}" "$small"
        ev1=$EV ok1=${OK:-0}
        window "$tag" "${PID[$tag]}" "$requests"
        ev2=$EV ok2=${OK:-0}
        ir=$(per "$ev1" "$ok1" "$ev2" "$ok2" 1)
        bench_record "workload=callgrind proto=http algo=$algo pool=$size workers=1 lb=$lb round=1 ir=${ev2%% *} requests=$ok2 ir_per_req=$ir"
        bench_log "callgrind $lb $algo $size servers: ${ev1%% *} instructions for $ok1 requests, ${ev2%% *} for $ok2: $ir per request"
        [ $cache_sim = no ] || printf "%-8s %-12s %4s servers: %6d instructions, %5d D1 misses, %4d L2 misses per request\n" \
          "$lb" "$algo" "$size" "$ir" "$(per "$ev1" "$ok1" "$ev2" "$ok2" 2)" "$(per "$ev1" "$ok1" "$ev2" "$ok2" 3)" >>"$out/cache-misses.txt"
        bench_stop "${PID[$tag]}"
        rm -f "$out"/callgrind."${PID[$tag]}".* "$out/callgrind.$tag.$small.out"
      done
    done
  done
  bench_table --workload callgrind
  [ $cache_sim = no ] || cat "$out/cache-misses.txt"
  exit 0
fi

for algo in $algos; do
  for size in $sizes; do
    start_journey "journey-$algo-$size" "$algo" "$size"
    start_haproxy "haproxy-$algo-$size" "$algo" "$size"
    [ -z "$baseline" ] || BIN=$baseline start_journey "baseline-$algo-$size" "$algo" "$size"
  done
  for size in $sizes; do
    for lb in $wrk_lbs; do
      wait_up "$lb-$algo-$size" 10
      wrk -t2 -c64 -d1s "$(url "$lb-$algo-$size")" >/dev/null 2>&1 || true # warm-up: pooled connections
    done
  done
  for round in $(seq "$rounds"); do
    for size in $sizes; do
      for lb in $wrk_lbs; do
        tag=$lb-$algo-$size
        BENCH_LB_PIDS=${PID[$tag]} BENCH_BE_PIDS=$(bench_tree "$nb_pid" | tr '\n' ' ')
        bench_measure wrk -t2 -c64 -d"${duration}s" --latency "$(url "$tag")"
        parsed=$(bench_parse_wrk "$BENCH_TMP/gen.out") || true
        bench_record "workload=pool algo=$algo pool=$size workers=1 lb=$lb round=$round $parsed gen=$BM_GEN lb_cpu=$BM_LB lb_sys=$BM_LB_SYS be_cpu=$BM_BE other=$BM_OTHER wall=$BM_WALL"
        bench_log "$tag r$round: $parsed lb_cpu=$BM_LB"
      done
    done
  done
  for size in $sizes; do for lb in $wrk_lbs; do bench_stop "${PID[$lb-$algo-$size]}"; done; done
done
bench_table --workload pool
# Each LB's cost at its largest pool over its smallest (medians of LB CPU µs/request).
awk -v lo="${sizes%% *}" -v hi="${sizes##* }" '
  { delete f; for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    if (f["rps"] > 0 && (f["pool"] == lo || f["pool"] == hi)) {
      k = f["lb"] " " f["algo"] " " f["pool"]; v[k, ++n[k]] = f["lb_cpu"] * 1e6 / f["rps"] } }
  function median(k,   m, i, j, t, a) {
    m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
  END { for (k in n) { split(k, p, " "); if (p[3] == lo && ((p[1] " " p[2] " " hi) in n))
          printf "%s %s: LB CPU µs/req %.2f at %s servers, %.2f at %s: x%.3f\n", p[1], p[2],
            median(k), lo, median(p[1] " " p[2] " " hi), hi, median(p[1] " " p[2] " " hi) / median(k) } }' "$BENCH_RECORDS" | sort
