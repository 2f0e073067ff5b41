#!/usr/bin/env bash
# Runs one check job (README, "Check jobs"), each in a build directory of
# its own next to the main build (SYNOD_BUILD_DIR, default build):
#   asan  clang with -Wthread-safety -Werror, AddressSanitizer and UBSan
#         over every module; runs the unit tests of base/, raft/, storage/,
#         server/, client/ and the simulator (on fewer seeds).
#   tsan  clang with ThreadSanitizer; builds and runs only the server unit
#         tests and the client library tests (the code with threads).
#         Not in CI's default SYNOD_CHECKS yet: see README, "Check jobs".
#   fuzz  clang with libFuzzer, ASan and UBSan (SYNOD_FUZZ); builds only the
#         fuzz targets (tests/fuzz) and runs each for SYNOD_FUZZ_SECONDS
#         (default 30) from its seed corpus, after replaying its
#         regression inputs (ctest label fuzz).
# Usage: tests/checks.sh asan|tsan|fuzz [extra cmake arguments]
# Prints ctest's output; exits non-zero if the build or a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
job=${1:?usage: tests/checks.sh asan|tsan|fuzz [cmake args]}
shift
build="${SYNOD_BUILD_DIR:-build}-${job}"
jobs=${SYNOD_JOBS:-2}

# -O1 and line tables only: sanitizer builds compile and link faster than
# -O2 -g and still print file:line stacks.
configure() {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG" \
    -DSYNOD_BUILD_BENCH=OFF "$@"
}

export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer || true)}
case "$job" in
  asan)
    # 50 seeds per simulator shard instead of 500: ASan runs it ~3x slower
    # and the main build runs the full 4,000 seeds.
    configure -DSYNOD_ASAN=ON -DSYNOD_SIM_SHARD_SEEDS=50 "$@"
    # client/ and tests/e2e are compiled too, so that clang's thread-safety
    # analysis covers every ABSL_GUARDED_BY; their process-level tests
    # (E2E in the name) stay with the main build.
    cmake --build "$build" -j "$jobs" --target base/all raft/all storage/all server/all server/watch/all server/zk/all \
      server/session/all server/metrics/all tests/sim/all client/all tests/e2e/all
    cd "$build"
    export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    # The checker's self-test (3,000 seeds) stays with the main build.
    ctest --output-on-failure -j "$jobs" --timeout 900 -L '^(base|raft|storage|server|sim|client)$' \
      -E '^(raft_sim_detects_injected_bug|.*E2E.*)$'
    ;;
  tsan)
    configure -DSYNOD_TSAN=ON "$@"
    cmake --build "$build" -j "$jobs" --target base/all server/all server/watch/all server/session/all \
      client_test session_watch_test recipes_test
    cd "$build"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
    # Client tests this job does not build (synodctl, e2e) are left out.
    ctest --output-on-failure -j "$jobs" --timeout 900 -L '^(base|server|client)$' -E '_NOT_BUILT$'
    ;;
  fuzz)
    configure -DSYNOD_FUZZ=ON -DSYNOD_FUZZ_SECONDS="${SYNOD_FUZZ_SECONDS:-30}" "$@"
    cmake --build "$build" -j "$jobs" --target synod_fuzz
    cd "$build"
    export ASAN_OPTIONS="detect_leaks=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    ctest --output-on-failure -j "$jobs" -L '^fuzz$'
    ;;
  *)
    echo "unknown check job: $job (asan, tsan or fuzz)" >&2
    exit 2
    ;;
esac
