#!/usr/bin/env bash
# Builds the libFuzzer targets in a clang build tree of their own and runs each for a bounded
# time, starting from corpus/<target>/ (seeds and regression inputs: each is replayed first).
# Fails on any crash, leak, sanitizer report or timeout; the input that did it is kept in
# tests/fuzz/artifacts/<target>/ (git-ignored): fix the bug, then commit that input as
# corpus/<target>/regress-<what> so it is replayed from then on.
#
#   tests/fuzz/run.sh [target...]      (default: every target)
# Environment:
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_BUILD_DIR build tree (default build-fuzz)
#   FUZZ_JOBS      build jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-2}
if ! command -v clang >/dev/null; then
  echo "fuzz: clang not found: install clang and libclang-rt-14-dev (scripts/install-deps.sh --build)" >&2
  exit 2
fi
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DJOURNEY_FUZZ=ON -DJOURNEY_SANITIZE=ON \
  -DJOURNEY_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz >/dev/null
targets=("$@")
if [ ${#targets[@]} = 0 ]; then
  for d in tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
printf '%-20s %8s %10s %8s %s\n' target seconds execs cov result
for t in "${targets[@]}"; do
  bin=$(find "$build/tests/fuzz" -maxdepth 1 -type f -name "$t" -perm -u+x | head -1)
  if [ -z "$bin" ]; then
    echo "fuzz: no target $t in $build (is its part built?)" >&2
    failed+=("$t")
    continue
  fi
  art="$root/tests/fuzz/artifacts/$t"
  work="$build/fuzz-corpus/$t" # grows while fuzzing; the committed corpus stays the seeds
  mkdir -p "$art" "$work"
  log="$build/fuzz-$t.log"
  set +e
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -artifact_prefix="$art/" -print_final_stats=1 "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ $rc = 0 ]; then
    printf '%-20s %8s %10s %8s %s\n' "$t" "$seconds" "${execs:-?}" "${cov:-?}" ok
  else
    printf '%-20s %8s %10s %8s %s\n' "$t" "$seconds" "${execs:-?}" "${cov:-?}" "FAILED (exit $rc)"
    grep -E 'ERROR|SUMMARY|runtime error|fuzz_|Test unit written' "$log" | head -20 >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (inputs in tests/fuzz/artifacts/, logs in $build/fuzz-*.log)" >&2
  exit 1
fi
