// RawNode's API contract: Ready/Advance pairing, errors, and the rule that
// a leader counts its own entries only once they are durable.
#include "raft/raw_node.h"

#include <memory>

#include "gtest/gtest.h"
#include "raft/memory_log_storage.h"

namespace synod::raft {
namespace {

class RawNodeTest : public testing::Test {
 protected:
  std::unique_ptr<RawNode> MakeNode(NodeId id, std::initializer_list<NodeId> voters,
                                    Config config = Config()) {
    auto storage = std::make_unique<MemoryLogStorage>();
    ConfState cs;
    for (NodeId v : voters) cs.add_voters(v);
    EXPECT_TRUE(storage->Bootstrap(cs).ok());
    config.id = id;
    config.pre_vote = false;  // elections in one round trip
    config.storage = storage.get();
    config.applied = 1;
    storages_.push_back(std::move(storage));
    absl::StatusOr<std::unique_ptr<RawNode>> node = RawNode::Create(config);
    EXPECT_TRUE(node.ok()) << node.status();
    return std::move(*node);
  }

  // Persists and advances one Ready of `node` stored in `storage`.
  static Ready Persist(RawNode* node, MemoryLogStorage* storage) {
    Ready rd = node->GetReady();
    EXPECT_TRUE(storage->Append(rd.entries).ok());
    if (rd.hard_state) storage->SetHardState(*rd.hard_state);
    return rd;
  }

  std::vector<std::unique_ptr<MemoryLogStorage>> storages_;
};

TEST_F(RawNodeTest, CreateValidatesConfig) {
  MemoryLogStorage storage;
  Config config;
  config.storage = &storage;
  EXPECT_TRUE(absl::IsInvalidArgument(RawNode::Create(config).status()));  // id 0
  config.id = 1;
  config.election_tick = 1;
  EXPECT_TRUE(absl::IsInvalidArgument(RawNode::Create(config).status()));
}

TEST_F(RawNodeTest, OneReadyAtATime) {
  std::unique_ptr<RawNode> node = MakeNode(1, {1});
  ASSERT_TRUE(node->Campaign().ok());
  ASSERT_TRUE(node->HasReady());
  Ready rd = Persist(node.get(), storages_[0].get());
  EXPECT_EQ(rd.number, 1u);
  EXPECT_FALSE(node->HasReady());  // outstanding
  EXPECT_DEATH(node->GetReady(), "before Advance");
  Ready wrong;
  wrong.number = 7;
  EXPECT_DEATH(node->Advance(wrong), "does not match");
  node->Advance(rd);
  EXPECT_TRUE(node->HasReady());  // the no-op is now committed
  EXPECT_EQ(node->GetReady().number, 2u);
}

TEST_F(RawNodeTest, ProposeWithoutLeaderFails) {
  std::unique_ptr<RawNode> node = MakeNode(1, {1, 2, 3});
  EXPECT_TRUE(absl::IsFailedPrecondition(node->Propose("x")));
  ConfChange cc;
  cc.set_node_id(4);
  EXPECT_TRUE(absl::IsFailedPrecondition(node->ProposeConfChange(cc)));
}

TEST_F(RawNodeTest, LearnerCannotCampaign) {
  auto storage = std::make_unique<MemoryLogStorage>();
  ConfState cs;
  cs.add_voters(1);
  cs.add_learners(2);
  ASSERT_TRUE(storage->Bootstrap(cs).ok());
  Config config;
  config.id = 2;
  config.storage = storage.get();
  std::unique_ptr<RawNode> node = *RawNode::Create(config);
  EXPECT_TRUE(absl::IsFailedPrecondition(node->Campaign()));
}

TEST_F(RawNodeTest, UncommittedTailIsBounded) {
  Config config;
  config.max_uncommitted_entries_size = 100;
  std::unique_ptr<RawNode> node = MakeNode(1, {1, 2, 3}, config);
  ASSERT_TRUE(node->Campaign().ok());
  // Win the election by hand.
  Ready rd = Persist(node.get(), storages_[0].get());
  node->Advance(rd);
  for (NodeId from : {2, 3}) {
    Message m;
    m.set_type(raftpb::MSG_VOTE_RESP);
    m.set_from(from);
    m.set_to(1);
    m.set_term(rd.hard_state->term());
    ASSERT_TRUE(node->Step(m).ok());
  }
  ASSERT_EQ(node->GetStatus().soft_state.role, Role::kLeader);
  EXPECT_TRUE(node->Propose(std::string(60, 'a')).ok());
  EXPECT_TRUE(absl::IsResourceExhausted(node->Propose(std::string(60, 'b'))));
}

TEST_F(RawNodeTest, LeaderCountsItselfOnlyOnceDurable) {
  std::unique_ptr<RawNode> node = MakeNode(1, {1, 2, 3});
  MemoryLogStorage* storage = storages_[0].get();
  ASSERT_TRUE(node->Campaign().ok());
  Ready rd = Persist(node.get(), storage);
  node->Advance(rd);
  const Term term = rd.hard_state->term();
  Message vote;
  vote.set_type(raftpb::MSG_VOTE_RESP);
  vote.set_from(2);
  vote.set_to(1);
  vote.set_term(term);
  ASSERT_TRUE(node->Step(vote).ok());
  ASSERT_EQ(node->GetStatus().soft_state.role, Role::kLeader);
  // The Ready holding the no-op (index 2) is handed out but not advanced.
  Ready noop = node->GetReady();
  ASSERT_EQ(noop.entries.size(), 1u);
  ASSERT_EQ(noop.entries[0].index(), 2u);
  // Follower 2 acknowledges it. Only one durable copy exists (on 2): no
  // commit yet, although the leader holds the entry in memory.
  Message ack;
  ack.set_type(raftpb::MSG_APP_RESP);
  ack.set_from(2);
  ack.set_to(1);
  ack.set_term(term);
  ack.set_index(2);
  ASSERT_TRUE(node->Step(ack).ok());
  EXPECT_EQ(node->GetStatus().committed, 1u);
  // Once the leader's own write is reported, 2 of 3 hold it.
  ASSERT_TRUE(storage->Append(noop.entries).ok());
  node->Advance(noop);
  EXPECT_EQ(node->GetStatus().committed, 2u);
}

TEST_F(RawNodeTest, MessagesAndPersistedMessagesAreSplit) {
  std::unique_ptr<RawNode> node = MakeNode(1, {1, 2, 3});
  ASSERT_TRUE(node->Campaign().ok());
  Ready rd = node->GetReady();
  // A candidate's vote requests promise its own durable vote: they wait.
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_EQ(rd.persisted_messages.size(), 2u);
  EXPECT_TRUE(rd.must_sync);
}

}  // namespace
}  // namespace synod::raft
