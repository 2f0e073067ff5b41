#include "raft/progress.h"

#include "gtest/gtest.h"

namespace synod::raft {
namespace {

Progress Make(LogIndex match, LogIndex next, ProgressState state) {
  Progress p(next, 4, 0, false);
  p.match = match;
  if (state == ProgressState::kReplicate) {
    p.BecomeReplicate();
    p.next = next;
  } else if (state == ProgressState::kSnapshot) {
    p.BecomeSnapshot(10);
  }
  return p;
}

TEST(ProgressTest, ProbePausesAfterOneMessage) {
  Progress p = Make(0, 5, ProgressState::kProbe);
  EXPECT_FALSE(p.IsPaused());
  p.probe_sent = true;
  EXPECT_TRUE(p.IsPaused());
  EXPECT_TRUE(p.MaybeUpdate(3));  // an answer unpauses
  EXPECT_FALSE(p.IsPaused());
  EXPECT_EQ(p.match, 3u);
  EXPECT_EQ(p.next, 5u);
}

TEST(ProgressTest, MaybeUpdateNeverMovesMatchBack) {
  Progress p = Make(5, 6, ProgressState::kReplicate);
  EXPECT_FALSE(p.MaybeUpdate(4));
  EXPECT_EQ(p.match, 5u);
  EXPECT_TRUE(p.MaybeUpdate(8));
  EXPECT_EQ(p.next, 9u);
}

TEST(ProgressTest, ReplicatePausesOnFullWindow) {
  Progress p = Make(5, 6, ProgressState::kReplicate);
  for (LogIndex i = 6; i < 10; ++i) {
    EXPECT_FALSE(p.IsPaused());
    p.OptimisticUpdate(i);
    p.inflights.Add(i, 1);
  }
  EXPECT_TRUE(p.IsPaused());
  EXPECT_EQ(p.next, 10u);
}

TEST(ProgressTest, MaybeDecrToInReplicate) {
  Progress p = Make(5, 10, ProgressState::kReplicate);
  EXPECT_FALSE(p.MaybeDecrTo(4, 4));  // stale: at or below match
  EXPECT_TRUE(p.MaybeDecrTo(9, 7));
  EXPECT_EQ(p.next, 6u);  // back to match + 1
}

TEST(ProgressTest, MaybeDecrToInProbeUsesHint) {
  Progress p = Make(0, 10, ProgressState::kProbe);
  EXPECT_FALSE(p.MaybeDecrTo(8, 2));  // answers an older probe
  p.probe_sent = true;
  EXPECT_TRUE(p.MaybeDecrTo(9, 3));
  EXPECT_EQ(p.next, 4u);  // hint + 1
  EXPECT_FALSE(p.probe_sent);
  // The hint never sends next below match + 1, nor above the rejected index.
  Progress q = Make(5, 10, ProgressState::kProbe);
  EXPECT_TRUE(q.MaybeDecrTo(9, 1));
  EXPECT_EQ(q.next, 6u);
  Progress r = Make(0, 10, ProgressState::kProbe);
  EXPECT_TRUE(r.MaybeDecrTo(9, 20));
  EXPECT_EQ(r.next, 9u);
}

TEST(ProgressTest, SnapshotStateIsPausedAndResumesAfterIt) {
  Progress p = Make(2, 3, ProgressState::kSnapshot);
  EXPECT_TRUE(p.IsPaused());
  EXPECT_EQ(p.pending_snapshot, 10u);
  p.BecomeProbe();
  EXPECT_EQ(p.state, ProgressState::kProbe);
  EXPECT_EQ(p.next, 11u);  // right after the snapshot
}

}  // namespace
}  // namespace synod::raft
