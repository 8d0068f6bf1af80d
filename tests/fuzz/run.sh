#!/usr/bin/env bash
# Builds the libFuzzer targets in a clang build tree of their own and runs each for a bounded
# time. The list of targets is the build's own (tests/fuzz/CMakeLists.txt writes it to
# <build>/tests/fuzz/targets.txt), so every target runs, with or without a corpus folder;
# corpus/<target>/, when present, holds seeds and regression inputs (each is replayed first).
# A corpus folder whose target is not built is reported (an error when CI=true).
# Fails on any crash, leak, sanitizer report or timeout; the input that did it is kept in
# tests/fuzz/artifacts/<target>/ (git-ignored): fix the bug, then commit that input as
# corpus/<target>/regress-<what> so it is replayed from then on.
#
#   tests/fuzz/run.sh [target...]      (default: every target)
# Environment:
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_BUILD_DIR build tree (default build-fuzz)
#   FUZZ_JOBS      build jobs (default 2)
#   FUZZ_RESULTS   a file to append one line per target to: fuzz.<target> TAB pass|fail TAB why
#                  (read by tests/summary.py)
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
result() { # target pass|fail why
  [ -z "${FUZZ_RESULTS:-}" ] || printf 'fuzz.%s\t%s\t%s\n' "$1" "$2" "$3" >>"$FUZZ_RESULTS"
}
if ! CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DJOURNEY_FUZZ=ON -DJOURNEY_SANITIZE=ON \
  -DJOURNEY_WERROR=ON >/dev/null || ! cmake --build "$build" -j "$jobs" --target fuzz >/dev/null; then
  echo "fuzz: the fuzz build in $build failed (output above)" >&2
  result build fail "the fuzz build failed"
  exit 1
fi
built=()
mapfile -t built < <(grep -v '^$' "$build/tests/fuzz/targets.txt")
targets=("$@")
if [ ${#targets[@]} = 0 ]; then
  targets=("${built[@]}")
  # A corpus folder without a built target: fuzzing it used to run and now does not.
  for d in tests/fuzz/corpus/*/; do
    t=$(basename "$d")
    case " ${built[*]} " in *" $t "*) continue ;; esac
    echo "fuzz: corpus/$t/ has no target in this build (its part is not built, or it was renamed)" >&2
    if [ "${CI:-}" = true ]; then
      result "$t" fail "corpus/$t/ has no target in the build"
      orphans=1
    fi
  done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
printf '%-20s %8s %10s %8s %s\n' target seconds execs cov result
for t in "${targets[@]}"; do
  bin=$(find "$build/tests/fuzz" -maxdepth 1 -type f -name "$t" -perm -u+x | head -1)
  if [ -z "$bin" ]; then
    echo "fuzz: no target $t in $build (is its part built?)" >&2
    result "$t" fail "no such target in $build"
    failed+=("$t")
    continue
  fi
  art="$root/tests/fuzz/artifacts/$t"
  work="$build/fuzz-corpus/$t" # grows while fuzzing; the committed corpus stays the seeds
  mkdir -p "$art" "$work"
  log="$build/fuzz-$t.log"
  set +e
  corpus=("$work")
  [ -d "tests/fuzz/corpus/$t" ] && corpus+=("tests/fuzz/corpus/$t")
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -artifact_prefix="$art/" -print_final_stats=1 "${corpus[@]}" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ $rc = 0 ]; then
    printf '%-20s %8s %10s %8s %s\n' "$t" "$seconds" "${execs:-?}" "${cov:-?}" ok
    result "$t" pass ""
  else
    printf '%-20s %8s %10s %8s %s\n' "$t" "$seconds" "${execs:-?}" "${cov:-?}" "FAILED (exit $rc)"
    grep -E 'ERROR|SUMMARY|runtime error|fuzz_|Test unit written' "$log" | head -20 >&2
    result "$t" fail "exit $rc: see $log and tests/fuzz/artifacts/$t/"
    failed+=("$t")
  fi
done
if [ -n "${orphans:-}" ]; then
  failed+=("(corpus folders without a target)")
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (inputs in tests/fuzz/artifacts/, logs in $build/fuzz-*.log)" >&2
  exit 1
fi
