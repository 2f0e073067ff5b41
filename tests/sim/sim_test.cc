// Unit tests of the simulator's parts: the simulated disk, the state machine
// and the checker (each rule must be able to fire).
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/sim/checker.h"
#include "tests/sim/durable_log.h"
#include "tests/sim/state_machine.h"

namespace synod::sim {
namespace {

raft::Entry E(raft::LogIndex index, raft::Term term, std::string data = "") {
  raft::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

raft::HardState HS(raft::Term term, raft::NodeId vote, raft::LogIndex commit) {
  raft::HardState hs;
  hs.set_term(term);
  hs.set_vote(vote);
  hs.set_commit(commit);
  return hs;
}

TEST(DurableLogTest, AppendTruncatesTailAndRefusesGaps) {
  DurableLog log;
  ASSERT_TRUE(log.Append({E(1, 1), E(2, 1), E(3, 1)}).ok());
  ASSERT_TRUE(log.Append({E(2, 2)}).ok());
  EXPECT_EQ(log.LastIndex(), 2u);
  EXPECT_EQ(*log.TermAt(2), 2u);
  EXPECT_FALSE(log.Append({E(5, 2)}).ok());
  EXPECT_TRUE(absl::IsNotFound(log.TermAt(3).status()));
}

TEST(DurableLogTest, RefusesToRewriteCommittedEntries) {
  DurableLog log;
  ASSERT_TRUE(log.Append({E(1, 1), E(2, 1)}).ok());
  log.SetHardState(HS(1, 0, 2));
  EXPECT_FALSE(log.Append({E(2, 2)}).ok());
  EXPECT_TRUE(log.Append({E(2, 1), E(3, 2)}).ok());
}

TEST(DurableLogTest, CrashLosesUnsyncedHardState) {
  DurableLog log;
  ASSERT_TRUE(log.Append({E(1, 1), E(2, 1)}).ok());
  log.SetHardState(HS(1, 2, 1));
  log.Sync();
  log.SetHardState(HS(1, 2, 2));
  log.Crash();
  EXPECT_EQ(log.hard_state().commit(), 1u);
}

TEST(DurableLogTest, SnapshotAndCompaction) {
  DurableLog log;
  ASSERT_TRUE(log.Append({E(1, 1), E(2, 1), E(3, 2), E(4, 2)}).ok());
  raft::ConfState cs;
  cs.add_voters(1);
  EXPECT_FALSE(log.Compact(2).ok());  // no snapshot covers it yet
  ASSERT_TRUE(log.CreateSnapshot(3, cs, "x").ok());
  ASSERT_TRUE(log.Compact(2).ok());
  EXPECT_EQ(log.FirstIndex(), 3u);
  EXPECT_EQ(*log.TermAt(2), 1u);
  EXPECT_TRUE(absl::IsOutOfRange(log.Entries(2, 4, 1 << 20).status()));
  EXPECT_EQ(log.Entries(3, 5, 1 << 20)->size(), 2u);
  EXPECT_EQ(log.Entries(3, 5, 0)->size(), 1u);  // at least one
  EXPECT_EQ(log.GetSnapshot()->metadata().term(), 2u);
  log.set_snapshot_unavailable(true);
  EXPECT_TRUE(absl::IsUnavailable(log.GetSnapshot().status()));
}

TEST(StateMachineTest, SnapshotRoundTrip) {
  ListStateMachine sm;
  sm.Apply(E(1, 1));
  sm.Apply(E(2, 1, EncodeValue(42, 3)));
  raft::Snapshot snap;
  snap.set_data(sm.Serialize());
  snap.mutable_metadata()->set_index(2);
  ListStateMachine copy;
  ASSERT_TRUE(copy.Restore(snap).ok());
  EXPECT_EQ(copy.digest(), sm.digest());
  EXPECT_TRUE(copy.Contains(2, 42));
  EXPECT_FALSE(copy.Contains(1, 42));
  snap.mutable_metadata()->set_index(3);
  EXPECT_FALSE(copy.Restore(snap).ok());
}

TEST(StateMachineTest, DigestDependsOnEveryEntry) {
  ListStateMachine a, b;
  a.Apply(E(1, 1, "x"));
  b.Apply(E(1, 2, "x"));
  EXPECT_NE(a.digest(), b.digest());
}

class CheckerTest : public ::testing::Test {
 protected:
  uint64_t now_ = 0;
  Checker checker_{&now_};
};

TEST_F(CheckerTest, TwoLeadersInOneTerm) {
  DurableLog log;
  checker_.OnLeader(1, 5, log);
  checker_.OnLeader(1, 5, log);
  EXPECT_FALSE(checker_.failed());
  checker_.OnLeader(2, 5, log);
  EXPECT_TRUE(checker_.failed()) << checker_.failure();
}

TEST_F(CheckerTest, DifferentEntriesUnderOneIndexAndTerm) {
  DurableLog log;
  checker_.OnAppend(1, log, {E(1, 1, "a")});
  checker_.OnAppend(2, log, {E(1, 1, "b")});
  EXPECT_TRUE(checker_.failed());
}

TEST_F(CheckerTest, SamePairAfterDifferentPredecessors) {
  DurableLog a, b;
  ASSERT_TRUE(a.Append({E(1, 1)}).ok());
  ASSERT_TRUE(b.Append({E(1, 2)}).ok());
  checker_.OnAppend(1, a, {E(2, 3)});
  EXPECT_FALSE(checker_.failed());
  checker_.OnAppend(2, b, {E(2, 3)});
  EXPECT_TRUE(checker_.failed());
}

TEST_F(CheckerTest, LostCommittedEntry) {
  DurableLog log;
  checker_.OnAppend(1, log, {E(1, 1, "a")});
  checker_.OnApply(1, 1, E(1, 1, "a"), 7);
  EXPECT_FALSE(checker_.failed());
  checker_.OnAppend(2, log, {E(1, 2, "b")});
  checker_.OnApply(2, 2, E(1, 2, "b"), 8);
  EXPECT_TRUE(checker_.failed());
}

TEST_F(CheckerTest, LeaderWithoutCommittedEntry) {
  DurableLog log;
  ASSERT_TRUE(log.Append({E(1, 1)}).ok());
  checker_.OnAppend(1, DurableLog(), {E(1, 1)});
  log.SetHardState(HS(1, 0, 1));
  checker_.OnHardState(1, HS(1, 0, 0), HS(1, 0, 1), log);
  checker_.OnLeader(2, 2, DurableLog());
  EXPECT_TRUE(checker_.failed());
}

TEST_F(CheckerTest, LateLeaderOfAnOlderTermMayLackNewerCommits) {
  DurableLog log;
  ASSERT_TRUE(log.Append({E(1, 3)}).ok());
  checker_.OnAppend(1, DurableLog(), {E(1, 3)});
  log.SetHardState(HS(3, 0, 1));
  checker_.OnHardState(1, HS(3, 0, 0), HS(3, 0, 1), log);
  checker_.OnLeader(2, 2, DurableLog());  // votes gathered in term 2, before
  EXPECT_FALSE(checker_.failed()) << checker_.failure();
  checker_.OnLeader(2, 4, DurableLog());
  EXPECT_TRUE(checker_.failed());
}

TEST_F(CheckerTest, VotesTwiceInATerm) {
  DurableLog log;
  checker_.OnHardState(1, HS(3, 2, 0), HS(3, 4, 0), log);
  EXPECT_TRUE(checker_.failed());
}

TEST_F(CheckerTest, VoteSentTwiceInATerm) {
  checker_.OnVote(1, 4, 2);
  checker_.OnVote(1, 4, 2);  // a duplicated answer
  checker_.OnVote(1, 5, 3);
  EXPECT_FALSE(checker_.failed());
  checker_.OnVote(1, 4, 3);
  EXPECT_TRUE(checker_.failed());
}

TEST_F(CheckerTest, DivergentApply) {
  DurableLog log;
  checker_.OnAppend(1, log, {E(1, 1, "a")});
  checker_.OnApply(1, 1, E(1, 1, "a"), 7);
  checker_.OnApply(2, 2, E(1, 1, "a"), 9);
  EXPECT_TRUE(checker_.failed());
}

}  // namespace
}  // namespace synod::sim
