#!/usr/bin/env bash
# Cost of the issue-5 hooks (per-request metrics, passive-check counters) and of active health
# checks: journey-lb built from another revision (BASE_LB, e.g. the lb branch) against this
# build, same two backends, plain HTTP keep-alive, interleaved wrk rounds (base, this, this with
# checks + admin, base, ...). Prints req/s and CPU microseconds per request of the balancer
# (/proc/PID/stat); compare medians as ratios. Loopback only; stops what it starts.
#
#   BASE_LB=/tmp/lb-rel/lb/journey-lb bench/lb-health-overhead.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5} secs=${2:-4}
BUILD=${BUILD_DIR:-build}
THIS=$BUILD/lb/journey-lb
BE=$BUILD/backend/journey-backend
BASE=${BASE_LB:?set BASE_LB to a journey-lb binary built from the base revision}
command -v wrk >/dev/null || { echo "wrk not found: scripts/install-deps.sh --bench" >&2; exit 1; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
$BE --listen 127.0.0.1:19201 --name b1 --no-access-log 2>/dev/null & pids+=($!)
$BE --listen 127.0.0.1:19202 --name b2 --no-access-log 2>/dev/null & pids+=($!)
sleep 0.3
common=(--workers 2 --access-log off --log-level warn --backend b1=127.0.0.1:19201 --backend b2=127.0.0.1:19202)
$BASE --listen http://127.0.0.1:19210 "${common[@]}" & pa=$!; pids+=($pa)
$THIS --listen http://127.0.0.1:19211 "${common[@]}" & pb=$!; pids+=($pb)
$THIS --listen http://127.0.0.1:19212 "${common[@]}" --health-path /health --health-interval 500ms \
  --health-timeout 200ms --admin 127.0.0.1:19219 --drain-delay 0 & pc=$!; pids+=($pc)
sleep 1
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf "%-5s %-12s %10s %14s\n" round variant req/s cpu_us/req
for r in $(seq "$rounds"); do
  for v in base:$pa:19210 this:$pb:19211 this+checks:$pc:19212; do
    IFS=: read -r name pid port <<<"$v"
    c0=$(cpu "$pid")
    out=$(wrk -t1 -c32 -d"${secs}s" "http://127.0.0.1:$port/my-app/data" 2>&1)
    c1=$(cpu "$pid")
    reqs=$(awk '/requests in/{print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    printf "%-5s %-12s %10s %14s\n" "$r" "$name" "$rps" \
      "$(awk -v c=$((c1 - c0)) -v n="$reqs" -v hz="$hz" 'BEGIN{printf "%.2f", c*1e6/hz/n}')"
  done
done
