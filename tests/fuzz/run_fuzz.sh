#!/usr/bin/env bash
# Runs one fuzz target as a ctest test (tests/fuzz/CMakeLists.txt): first
# every input in its regressions directory once (each once crashed the
# target), then SECONDS of fuzzing that starts from a copy of its seed
# corpus, so the tree's corpus is never written. A crash input is kept in
# SYNOD_FUZZ_ARTIFACTS (default: fuzz-artifacts/ in the test's directory).
# Usage: run_fuzz.sh <target binary> <corpus dir> <regressions dir> <seconds>
set -euo pipefail
bin=$1 corpus=$2 regressions=$3 seconds=$4
name=$(basename "$bin")
artifacts=${SYNOD_FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}
mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -d "$regressions" ]; then
  mapfile -t inputs < <(find "$regressions" -type f | sort)
  if [ "${#inputs[@]}" -gt 0 ]; then
    echo "== $name: ${#inputs[@]} regression inputs"
    "$bin" "${inputs[@]}"
  fi
fi

mkdir "$work/corpus"
cp "$corpus"/* "$work/corpus/"
echo "== $name: fuzzing for ${seconds}s from $(ls "$work/corpus" | wc -l) seeds"
# -timeout: one input running for seconds is a hang worth reporting;
# -rss_limit_mb: the machine is shared.
"$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=1024 -print_final_stats=1 \
  -artifact_prefix="$artifacts/$name-" "$work/corpus"
