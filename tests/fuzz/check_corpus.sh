#!/usr/bin/env bash
# Fails when tests/fuzz/corpus is not what the seed writer writes now (a
# format changed, or a seed was edited by hand): regenerate with
#   rm -rf tests/fuzz/corpus && build/tests/fuzz/fuzz_seed_corpus tests/fuzz/corpus
# Usage: check_corpus.sh <fuzz_seed_corpus binary> <committed corpus dir>
set -euo pipefail
bin=$1 committed=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" "$work/corpus"
diff -r "$work/corpus" "$committed"
echo "the committed seed corpus is current"
