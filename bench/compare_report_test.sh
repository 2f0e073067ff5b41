#!/usr/bin/env bash
# bench/compare_report.sh's source_revision, on a throw-away git repository:
# the "uncommitted changes" note counts changed sources of the synod binary,
# never tests or their data alone.
#
#   bench/compare_report_test.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/compare_report.sh
source "$HERE/compare_report.sh"

REPO=$(mktemp -d /tmp/synod-compare-report-test.XXXXXX)
trap 'rm -rf "$REPO"' EXIT
FAILED=0
expect() {  # expect WHAT WORD: source_revision's line contains WORD
  local line
  line=$(source_revision "$REPO")
  if [[ $line == *"$2"* ]]; then
    echo "ok: $1 ($line)"
  else
    echo "FAILED: $1: expected '$2' in '$line'"
    FAILED=1
  fi
}

git -C "$REPO" init -q
mkdir -p "$REPO/server/zk" "$REPO/raft/testdata" "$REPO/storage" "$REPO/tests/e2e"
for f in server/zk/listener.cc server/zk/listener_test.cc server/replica_testing.h \
  storage/tree_test_util.h raft/testdata/election.txt raft/raft.cc tests/e2e/x_test.cc; do
  echo "a" > "$REPO/$f"
done
git -C "$REPO" add -A
git -C "$REPO" -c user.name=t -c user.email=t@t commit -q -m base
expect "a committed tree is clean" "working tree clean"

echo "b" >> "$REPO/server/zk/listener_test.cc"
echo "b" >> "$REPO/server/replica_testing.h"
echo "b" >> "$REPO/storage/tree_test_util.h"
echo "b" >> "$REPO/raft/testdata/election.txt"
echo "b" >> "$REPO/tests/e2e/x_test.cc"
echo "new" > "$REPO/server/zk/new_test.cc"
expect "changed tests and test data only: still clean" "working tree clean"

echo "b" >> "$REPO/server/zk/listener.cc"
expect "a changed server source is reported" "with uncommitted server/storage/raft changes"
git -C "$REPO" checkout -q -- server/zk/listener.cc
echo "new" > "$REPO/raft/new_part.cc"
expect "a new raft source is reported" "with uncommitted server/storage/raft changes"

exit $FAILED
