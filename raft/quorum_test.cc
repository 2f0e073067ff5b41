#include "raft/quorum.h"

#include "gtest/gtest.h"

namespace synod::raft {
namespace {

TEST(QuorumTest, MajorityCommittedIndex) {
  EXPECT_EQ(MajorityCommittedIndex({1}, {{1, 7}}), 7u);
  EXPECT_EQ(MajorityCommittedIndex({1, 2, 3}, {{1, 10}, {2, 8}, {3, 5}}), 8u);
  EXPECT_EQ(MajorityCommittedIndex({1, 2, 3}, {{1, 10}}), 0u);  // absent count as 0
  EXPECT_EQ(MajorityCommittedIndex({1, 2, 3, 4}, {{1, 10}, {2, 8}, {3, 5}, {4, 3}}), 5u);
  EXPECT_EQ(MajorityCommittedIndex({1, 2, 3, 4, 5}, {{1, 9}, {2, 9}, {3, 1}, {4, 2}, {5, 9}}), 9u);
  EXPECT_EQ(MajorityCommittedIndex({}, {}), 0u);
}

TEST(QuorumTest, TallyVotes) {
  const std::vector<NodeId> three = {1, 2, 3};
  EXPECT_EQ(TallyVotes(three, {{1, true}}), VoteResult::kPending);
  EXPECT_EQ(TallyVotes(three, {{1, true}, {2, true}}), VoteResult::kWon);
  EXPECT_EQ(TallyVotes(three, {{1, true}, {2, false}}), VoteResult::kPending);
  EXPECT_EQ(TallyVotes(three, {{1, true}, {2, false}, {3, false}}), VoteResult::kLost);
  // Votes of non-voters (a learner, a removed node) do not count.
  EXPECT_EQ(TallyVotes(three, {{1, true}, {4, true}, {5, true}}), VoteResult::kPending);
  const std::vector<NodeId> four = {1, 2, 3, 4};
  EXPECT_EQ(TallyVotes(four, {{1, true}, {2, true}}), VoteResult::kPending);
  EXPECT_EQ(TallyVotes(four, {{1, false}, {2, false}}), VoteResult::kLost);
  EXPECT_EQ(TallyVotes({1}, {{1, true}}), VoteResult::kWon);
}

}  // namespace
}  // namespace synod::raft
