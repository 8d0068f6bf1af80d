#!/usr/bin/env bash
# Cost of the issue-5 hooks (per-request metrics, passive-check counters) and of active health
# checks: journey-lb built from another revision (BASE_LB, e.g. the lb branch) against this
# build, same two backends, plain HTTP keep-alive, interleaved wrk rounds (base, this, this with
# checks + admin, base, ...). Prints each round, then the medians (min-max) of req/s and of the
# balancer's CPU microseconds per request (/proc/PID/stat) per variant; compare them as ratios.
# Loopback only (free ports below the ephemeral range); stops what it starts (bench/lib.sh).
#
#   BASE_LB=/tmp/lb-rel/lb/journey-lb bench/lb-health-overhead.sh [ROUNDS] [SECONDS]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$BENCH_ROOT"
rounds=${1:-5} secs=${2:-4}
case "$rounds$secs" in *[!0-9]*) echo "lb-health-overhead: ROUNDS and SECONDS are whole numbers" >&2; exit 2 ;; esac
BASE=${BASE_LB:?set BASE_LB to a journey-lb binary built from the base revision}
bench_init lb-health-overhead
bench_need wrk curl python3
bench_binaries "${BUILD_DIR:-build}"
[ -x "$BASE" ] || bench_die "BASE_LB=$BASE is not an executable"

read -r pb1 pb2 pa pb pc padmin <<<"$(bench_free_ports 6)"
bench_start b1 "$BACKEND_BIN" --listen "127.0.0.1:$pb1" --name b1 --no-access-log
bench_start b2 "$BACKEND_BIN" --listen "127.0.0.1:$pb2" --name b2 --no-access-log
common=(--workers 2 --access-log off --log-level warn --backend "b1=127.0.0.1:$pb1" --backend "b2=127.0.0.1:$pb2")
bench_start base "$BASE" --listen "http://127.0.0.1:$pa" "${common[@]}"
pid_base=$BENCH_LAST_PID
bench_start this "$LB_BIN" --listen "http://127.0.0.1:$pb" "${common[@]}"
pid_this=$BENCH_LAST_PID
bench_start checks "$LB_BIN" --listen "http://127.0.0.1:$pc" "${common[@]}" --health-path /health \
  --health-interval 500ms --health-timeout 200ms --admin "127.0.0.1:$padmin" --drain-delay 0
pid_checks=$BENCH_LAST_PID
for p in $pa $pb $pc; do
  bench_wait_http "http://127.0.0.1:$p/my-app/data" 10 || { cat "$BENCH_TMP"/*.err >&2; bench_die "nothing answers on port $p (logs above)"; }
done

for r in $(seq "$rounds"); do
  for v in base:$pid_base:$pa this:$pid_this:$pb this+checks:$pid_checks:$pc; do
    IFS=: read -r name pid port <<<"$v"
    BENCH_LB_PIDS=$pid BENCH_BE_PIDS=""
    bench_measure wrk -t1 -c32 -d"${secs}s" "http://127.0.0.1:$port/my-app/data"
    parsed=$(bench_parse_wrk "$BENCH_TMP/gen.out") || true
    bench_record "workload=lb-health-overhead variant=$name lb=journey round=$r $parsed lb_cpu=$BM_LB lb_sys=$BM_LB_SYS"
    echo "round $r $name: $parsed lb_cores=$BM_LB"
  done
done
bench_table --workload lb-health-overhead
