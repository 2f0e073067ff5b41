// ReadIndexBatcher against a real RawNode and MemoryLogStorage: a lone voter
// leads, so a round is answered in the next Ready.
#include "server/read_index_batcher.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/memory_log_storage.h"

namespace synod::server {
namespace {

class ReadIndexBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    raft::ConfState cs;
    cs.add_voters(1);
    ASSERT_TRUE(storage_.Bootstrap(cs).ok());
    raft::Config config;
    config.id = 1;
    config.storage = &storage_;
    config.applied = 1;
    absl::StatusOr<std::unique_ptr<raft::RawNode>> node = raft::RawNode::Create(config);
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
    ASSERT_TRUE(node_->Campaign().ok());
    // Until its no-op is committed, a leader holds read requests (§6.4).
    while (node_->HasReady()) Persist();
    ASSERT_EQ(node_->soft_state().role, raft::Role::kLeader);
  }

  ReadIndexBatcher::Hooks Hooks() {
    ReadIndexBatcher::Hooks hooks;
    hooks.pending = [this](uint64_t id) { return finished_.count(id) == 0; };
    hooks.fail = [this](const std::vector<uint64_t>& ids, v1::ErrorCode code, const std::string&) {
      for (uint64_t id : ids) failed_[id] = code;
    };
    hooks.serve = [this](raft::LogIndex index, std::vector<uint64_t> ids) {
      for (uint64_t id : ids) served_[id] = index;
    };
    return hooks;
  }

  // Persists one Ready and hands its read states to `batcher`.
  void Persist(ReadIndexBatcher* batcher = nullptr) {
    raft::Ready rd = node_->GetReady();
    ASSERT_TRUE(storage_.Append(rd.entries).ok());
    if (rd.hard_state) storage_.SetHardState(*rd.hard_state);
    if (batcher != nullptr) {
      for (const raft::ReadState& rs : rd.read_states) batcher->OnReadState(rs);
    }
    node_->Advance(rd);
  }
  void Drain(ReadIndexBatcher* batcher) {
    while (node_->HasReady()) Persist(batcher);
  }

  raft::MemoryLogStorage storage_;
  std::unique_ptr<raft::RawNode> node_;
  std::set<uint64_t> finished_;
  std::map<uint64_t, v1::ErrorCode> failed_;
  std::map<uint64_t, raft::LogIndex> served_;
};

TEST_F(ReadIndexBatcherTest, ReadsQueuedTogetherShareOneRound) {
  ReadIndexBatcher batcher(1, 99, 3, Hooks());
  batcher.Add({10, 11, 12});
  EXPECT_EQ(batcher.held(), 3u);
  ASSERT_TRUE(batcher.MaybeIssue(node_.get(), true));
  EXPECT_FALSE(batcher.MaybeIssue(node_.get(), true));  // nothing queued
  Drain(&batcher);
  ASSERT_EQ(served_.size(), 3u);
  const raft::LogIndex index = node_->GetStatus().committed;
  for (uint64_t id : {10, 11, 12}) EXPECT_EQ(served_[id], index);
  EXPECT_EQ(batcher.held(), 0u);
}

TEST_F(ReadIndexBatcherTest, AtMostTwoRoundsInFlightAndLaterReadsWait) {
  ReadIndexBatcher batcher(1, 99, 3, Hooks());
  batcher.Add({1});
  ASSERT_TRUE(batcher.MaybeIssue(node_.get(), true));
  batcher.Add({2});
  ASSERT_TRUE(batcher.MaybeIssue(node_.get(), true));
  batcher.Add({3, 4});
  EXPECT_TRUE(batcher.rounds_full());
  EXPECT_FALSE(batcher.MaybeIssue(node_.get(), true));
  EXPECT_EQ(batcher.held(), 4u);
  Drain(&batcher);  // the two rounds are answered
  EXPECT_EQ(served_.size(), 2u);
  ASSERT_TRUE(batcher.MaybeIssue(node_.get(), true));
  Drain(&batcher);
  EXPECT_EQ(served_.size(), 4u);
}

TEST_F(ReadIndexBatcherTest, LostRoundIsAskedAgainAndFinishedReadsAreDropped) {
  ReadIndexBatcher batcher(1, 99, 2, Hooks());
  batcher.Add({1, 2});
  ASSERT_TRUE(batcher.MaybeIssue(node_.get(), true));
  // The core's answer is lost (the Ready's read state never reaches us).
  Drain(nullptr);
  EXPECT_TRUE(served_.empty());
  finished_.insert(2);  // timed out meanwhile
  batcher.Tick(node_.get(), true);
  EXPECT_EQ(batcher.held(), 2u);  // not yet retry_ticks old
  batcher.Tick(node_.get(), true);
  EXPECT_EQ(batcher.held(), 1u);  // asked again, without 2
  Drain(&batcher);
  EXPECT_EQ(served_.count(1), 1u);
  EXPECT_EQ(served_.count(2), 0u);
}

TEST_F(ReadIndexBatcherTest, WithoutLeaderReadsFailAtOnce) {
  ReadIndexBatcher batcher(1, 99, 3, Hooks());
  batcher.Add({5, 6});
  finished_.insert(6);
  ASSERT_TRUE(batcher.MaybeIssue(node_.get(), false));
  ASSERT_EQ(failed_.size(), 1u);
  EXPECT_EQ(failed_[5], v1::UNAVAILABLE);
  EXPECT_EQ(batcher.held(), 0u);
}

}  // namespace
}  // namespace synod::server
