#!/usr/bin/env bash
# Runs Synod's whole test suite on a fresh Debian 12 machine: installs the
# dependencies, builds with SYNOD_JOBS (default 2) jobs, runs every ctest
# test, then the check jobs in SYNOD_CHECKS (default "asan fuzz", see
# tests/checks.sh). Every job runs even if an earlier one failed; the
# output ends with each job's ctest summary and, last, their sum in ctest's
# own words. Exits non-zero if any build or test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

names=()
# run_job <name> <command...>: runs it, keeping its output and timing.
run_job() {
  local name=$1 start rc=0
  shift
  names+=("$name")
  start=$(date +%s)
  "$@" 2>&1 | tee "$logs/$name.log" || rc=$?
  echo "$rc $(($(date +%s) - start))" >"$logs/$name.rc"
}

# A job runs on the left of "||", where set -e does not apply: chain with &&.
main_job() {
  deploy/build.sh &&
    (cd "${SYNOD_BUILD_DIR:-build}" && ctest --output-on-failure -j "${SYNOD_JOBS:-2}" --timeout 900)
}

run_job main main_job
for job in ${SYNOD_CHECKS-asan fuzz}; do
  run_job "$job" tests/checks.sh "$job"
done

echo
echo "=== summary"
passed=0 total=0 failed_jobs=0
for name in "${names[@]}"; do
  read -r rc secs <"$logs/$name.rc"
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$logs/$name.log" |
         tail -1 || true)
  took="$((secs / 60))m$((secs % 60))s"
  if [ -z "$line" ]; then
    echo "$name: no tests ran, exit status $rc ($took)"
    failed_jobs=$((failed_jobs + 1))
    continue
  fi
  echo "$name: $line ($took)"
  n=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  total=$((total + n))
  passed=$((passed + n - f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed_jobs=$((failed_jobs + 1)); fi
done
# A job that failed without a failed test (its build) counts as one failed test.
total=$((total + failed_jobs))
failed=$((total - passed))
percent=100
if [ "$total" -gt 0 ]; then percent=$((passed * 100 / total)); fi
echo "${percent}% tests passed, ${failed} tests failed out of ${total}"
[ "$failed" -eq 0 ]
