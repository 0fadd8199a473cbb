#!/usr/bin/env bash
# Sanitizer passes (issue 7):
#   asan  — build-asan with -DMAILRESCUE_SANITIZE=ON (ASan+UBSan), whole ctest suite.
#   tsan  — build-tsan with -DMAILRESCUE_TSAN=ON, the parallel tests: salvage (jobs 1 vs 2,
#           damage cases, injected device faults), reconcile e2e, rescue, fuzz replay
#           (in-process salvage), and common/parallel's check that the TBB fork/join
#           edges it shows TSan hide no real race (Parallel.*). libtbb and libext2fs
#           are not instrumented: TBB's edges come from common/parallel.cc.
# Usage: scripts/sanitize.sh [asan|tsan|all] [extra ctest args...]   (default: all)
# ASAN_BUILD_DIR (default build-asan) is where the asan pass builds (scripts/test.sh runs it
# as its second pass, into BUILD_DIR-asan).
# JOBS (default 2) limits build and test parallelism. Fails on the first finding: UBSan is
# made fatal, ASan leaks are reported (detect_leaks=1), TSan halts on the first race.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
JOBS=${JOBS:-2}
what=${1:-all}
[ $# -gt 0 ] && shift

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# TBB's worker pool and the per-worker libext2fs handles over one Source are the parallel
# parts under test.
# scripts/tsan-suppressions.txt: uninstrumented libtbb internals only (see the file).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan-suppressions.txt}

# -O1 -g1, as the ASan documentation suggests: a file compiles about 2.7x faster than at
# -O2 -g under ASan+UBSan (planner_test.cc: 34.5 s -> 12.8 s), which keeps CI's second pass
# short, and reports still carry file:line.
asan() {
  local dir=${ASAN_BUILD_DIR:-build-asan}
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAILRESCUE_SANITIZE=ON \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" --timeout 1800 "$@")
}

tsan() {
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAILRESCUE_TSAN=ON >/dev/null
  cmake --build build-tsan -j"$JOBS" --target mailrescue salvage_image_test reconcile_e2e_test \
    rescue_test reliability_replay_test parallel_test race_probe
  (cd build-tsan && ctest --output-on-failure -j"$JOBS" --timeout 1800 \
    -R '^(SalvageImage\.|SalvageDamage\.|SalvageFaults\.|SalvageFaultImage\.|.*ReconcileE2E\.|.*ReconcileDamageE2E\.|Rescue\.|AllTargets/Replay\.|Parallel\.)' "$@")
}

case "$what" in
  asan) asan "$@" ;;
  tsan) tsan "$@" ;;
  all) asan "$@"; tsan "$@" ;;
  *) echo "usage: $0 [asan|tsan|all] [ctest args]" >&2; exit 2 ;;
esac
