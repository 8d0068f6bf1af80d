#!/usr/bin/env bash
# journey-lb vs HAProxy 2.6 only, HTTPS and plain HTTP keep-alive: a short form of bench/run.sh.
#
#   bench/lb-vs-haproxy.sh [--rounds N] [--duration S] [--connections C] [--threads T]
#                          [--workers W] [--pin] [--out DIR]
#
# Three journey-backend servers on loopback; journey-lb and haproxy with equivalent settings
# (round-robin, keep-alive to the backends, access logs off, W workers/threads); interleaved
# wrk rounds (journey-lb, haproxy, journey-lb, ...); a table of medians (req/s, p50, p99, LB CPU
# per request) with min-max and the ratio journey-lb/HAProxy. Defaults: 5 rounds of 6 s, 2 workers,
# results in bench/out/lb-vs-haproxy. --pin (2+ CPUs, taskset): wrk on CPU 0, the servers on the
# others. Everything is started, configured and measured by bench/run.sh and bench/lib.sh (one
# implementation); needs a build and the bench tools.
set -euo pipefail
rounds=5 duration=6 workers=2 out=bench/out/lb-vs-haproxy extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --connections|--threads) extra+=("$1" "$2"); shift 2 ;;
    --pin) extra+=(--pin); shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "lb-vs-haproxy: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
exec "$(dirname "$0")/run.sh" --no-install --lbs "journey haproxy" --backends journey \
  --only "https-ka http-ka" --rounds "$rounds" --duration "$duration" --workers "$workers" --out "$out" "${extra[@]}"
