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

// Peers are not trusted blindly: each refusal below leaves the node as it
// was, and the same message from the right sender is still taken.

// Node 1 leads {1, 2, 3}; follower 2 acknowledged the no-op, so its
// progress is in replicate state.
class UntrustedPeerTest : public RawNodeTest {
 protected:
  void SetUp() override {
    leader_ = MakeNode(1, {1, 2, 3});
    MemoryLogStorage* storage = storages_[0].get();
    ASSERT_TRUE(leader_->Campaign().ok());
    Ready rd = Persist(leader_.get(), storage);
    leader_->Advance(rd);
    term_ = rd.hard_state->term();
    ASSERT_TRUE(leader_->Step(Msg(raftpb::MSG_VOTE_RESP, 2)).ok());
    ASSERT_EQ(leader_->GetStatus().soft_state.role, Role::kLeader);
    Ready noop = Persist(leader_.get(), storage);
    leader_->Advance(noop);
    Message ack = Msg(raftpb::MSG_APP_RESP, 2);
    ack.set_index(leader_->GetStatus().last_index);
    ASSERT_TRUE(leader_->Step(ack).ok());
    ASSERT_EQ(ProgressOf(2).state, ProgressStatus::State::kReplicate);
  }

  Message Msg(MessageType type, NodeId from, NodeId to = 1) const {
    Message m;
    m.set_type(type);
    m.set_from(from);
    m.set_to(to);
    m.set_term(term_);
    return m;
  }
  ProgressStatus ProgressOf(NodeId id) const {
    for (const ProgressStatus& p : leader_->GetStatus().progress) {
      if (p.id == id) return p;
    }
    ADD_FAILURE() << "no progress for " << id;
    return ProgressStatus();
  }
  // Term, vote, commit, leader and role are as they were.
  void ExpectLeaderUnchanged() const {
    const raft::Status st = leader_->GetStatus();
    EXPECT_EQ(st.hard_state.term(), term_);
    EXPECT_EQ(st.hard_state.vote(), 1u);
    EXPECT_EQ(st.soft_state.role, Role::kLeader);
    EXPECT_EQ(st.soft_state.leader, 1u);
  }

  std::unique_ptr<RawNode> leader_;
  Term term_ = 0;
};

TEST_F(UntrustedPeerTest, LocalOnlyTypesFromAPeerAreRefused) {
  // A peer cannot push the leader's view of follower 2 back to probing.
  Message unreachable = Msg(raftpb::MSG_UNREACHABLE, 2);
  EXPECT_TRUE(absl::IsInvalidArgument(leader_->Step(unreachable)));
  Message snap_status = Msg(raftpb::MSG_SNAP_STATUS, 2);
  snap_status.set_reject(true);
  EXPECT_TRUE(absl::IsInvalidArgument(leader_->Step(snap_status)));
  EXPECT_EQ(ProgressOf(2).state, ProgressStatus::State::kReplicate);
  ExpectLeaderUnchanged();
  // The driver's own report still works.
  leader_->ReportUnreachable(2);
  EXPECT_EQ(ProgressOf(2).state, ProgressStatus::State::kProbe);
}

TEST_F(UntrustedPeerTest, UnknownTypesAreRefused) {
  for (int type : {0, 17, 1000}) {
    Message m = Msg(static_cast<MessageType>(type), 2);
    m.set_term(term_ + 5);  // would depose the leader if stepped
    EXPECT_TRUE(absl::IsInvalidArgument(leader_->Step(m))) << type;
  }
  ExpectLeaderUnchanged();
}

TEST_F(UntrustedPeerTest, WrongSenderOrReceiverIsRefused) {
  Message no_sender = Msg(raftpb::MSG_HEARTBEAT_RESP, raft::kNoNode);
  no_sender.set_term(term_ + 1);
  EXPECT_TRUE(absl::IsInvalidArgument(leader_->Step(no_sender)));
  Message from_self = Msg(raftpb::MSG_VOTE, 1);
  from_self.set_term(term_ + 1);
  EXPECT_TRUE(absl::IsInvalidArgument(leader_->Step(from_self)));
  Message for_other = Msg(raftpb::MSG_TIMEOUT_NOW, 2, /*to=*/3);
  EXPECT_TRUE(absl::IsInvalidArgument(leader_->Step(for_other)));
  Message app_for_other = Msg(raftpb::MSG_APP, 2, /*to=*/3);
  app_for_other.set_term(term_ + 1);
  EXPECT_TRUE(absl::IsInvalidArgument(leader_->Step(app_for_other)));
  ExpectLeaderUnchanged();
  // Forwarded requests carry no term, every other message one.
  Message prop_with_term = Msg(raftpb::MSG_PROP, 2);
  prop_with_term.set_term(term_ + 4);  // would depose the leader
  prop_with_term.add_entries()->set_data("x");
  EXPECT_TRUE(absl::IsInvalidArgument(leader_->Step(prop_with_term)));
  Message ack_without_term = Msg(raftpb::MSG_APP_RESP, 2);
  ack_without_term.set_term(0);
  EXPECT_TRUE(absl::IsInvalidArgument(leader_->Step(ack_without_term)));
  ExpectLeaderUnchanged();
  EXPECT_EQ(leader_->GetStatus().last_index, 2u);  // no entry from the proposal
  // A forwarded request names its originator, this node included (it may
  // come back around a leader change).
  Message own_transfer = Msg(raftpb::MSG_TRANSFER_LEADER, 1);
  own_transfer.set_term(0);
  EXPECT_TRUE(leader_->Step(own_transfer).ok());
  Message own_read = Msg(raftpb::MSG_READ_INDEX, 1);
  own_read.set_term(0);
  own_read.set_context("mine");
  EXPECT_TRUE(leader_->Step(own_read).ok());
  ExpectLeaderUnchanged();
}

TEST_F(UntrustedPeerTest, AnswersFromNonMembersAreRefused) {
  for (MessageType type : {raftpb::MSG_APP_RESP, raftpb::MSG_HEARTBEAT_RESP, raftpb::MSG_VOTE_RESP,
                           raftpb::MSG_PRE_VOTE_RESP, raftpb::MSG_READ_INDEX_RESP}) {
    Message m = Msg(type, 9);
    m.set_term(term_ + 3);  // a higher term would make the leader step down
    m.set_reject(true);
    EXPECT_TRUE(absl::IsNotFound(leader_->Step(m))) << raftpb::MessageType_Name(type);
  }
  ExpectLeaderUnchanged();
  // Requests from a node this one does not know are taken: a leader added
  // after this node's last membership change must reach it (§4.1).
  Message heartbeat = Msg(raftpb::MSG_HEARTBEAT, 9);
  heartbeat.set_term(term_ + 3);
  EXPECT_TRUE(leader_->Step(heartbeat).ok());
  EXPECT_EQ(leader_->GetStatus().soft_state.leader, 9u);
}

TEST_F(RawNodeTest, ReadIndexAnswersOnlyFromTheLeader) {
  std::unique_ptr<RawNode> follower = MakeNode(2, {1, 2, 3});
  Message heartbeat;
  heartbeat.set_type(raftpb::MSG_HEARTBEAT);
  heartbeat.set_from(1);
  heartbeat.set_to(2);
  heartbeat.set_term(2);
  ASSERT_TRUE(follower->Step(heartbeat).ok());
  ASSERT_EQ(follower->GetStatus().soft_state.leader, 1u);
  Ready rd = Persist(follower.get(), storages_[0].get());
  follower->Advance(rd);
  Message answer;
  answer.set_type(raftpb::MSG_READ_INDEX_RESP);
  answer.set_to(2);
  answer.set_term(2);
  answer.set_index(1);
  answer.set_context("read-1");
  answer.set_from(3);  // a member, but not the leader
  EXPECT_TRUE(absl::IsFailedPrecondition(follower->Step(answer)));
  EXPECT_FALSE(follower->HasReady());
  answer.set_from(1);
  ASSERT_TRUE(follower->Step(answer).ok());
  ASSERT_TRUE(follower->HasReady());
  Ready with_read = follower->GetReady();
  ASSERT_EQ(with_read.read_states.size(), 1u);
  EXPECT_EQ(with_read.read_states[0].context, "read-1");
}

TEST_F(RawNodeTest, PausedCommittedEntriesWaitWhileHeartbeatsGoOn) {
  std::unique_ptr<RawNode> node = MakeNode(1, {1, 2});
  MemoryLogStorage* storage = storages_[0].get();
  ASSERT_TRUE(node->Campaign().ok());
  Ready rd = Persist(node.get(), storage);
  node->Advance(rd);
  const Term term = rd.hard_state->term();
  EXPECT_EQ(node->term(), term);
  Message vote;
  vote.set_type(raftpb::MSG_VOTE_RESP);
  vote.set_from(2);
  vote.set_to(1);
  vote.set_term(term);
  ASSERT_TRUE(node->Step(vote).ok());
  ASSERT_EQ(node->soft_state().role, Role::kLeader);
  node->PauseCommittedEntries(true);
  ASSERT_TRUE(node->Propose("x").ok());
  rd = Persist(node.get(), storage);
  node->Advance(rd);
  // Follower 2 stores the no-op and "x": both are committed.
  Message ack;
  ack.set_type(raftpb::MSG_APP_RESP);
  ack.set_from(2);
  ack.set_to(1);
  ack.set_term(term);
  ack.set_index(3);
  ASSERT_TRUE(node->Step(ack).ok());
  ASSERT_EQ(node->GetStatus().committed, 3u);
  // Paused: the Readies carry the commit and heartbeats, no committed entry.
  for (int i = 0; i < 3; ++i) node->Tick();
  bool heartbeat = false;
  while (node->HasReady()) {
    rd = Persist(node.get(), storage);
    EXPECT_TRUE(rd.committed_entries.empty());
    for (const Message& m : rd.messages) heartbeat |= m.type() == raftpb::MSG_HEARTBEAT;
    node->Advance(rd);
  }
  EXPECT_TRUE(heartbeat);
  EXPECT_EQ(node->GetStatus().applied, 1u);
  // Resumed: everything committed meanwhile, in order.
  node->PauseCommittedEntries(false);
  ASSERT_TRUE(node->HasReady());
  rd = Persist(node.get(), storage);
  ASSERT_EQ(rd.committed_entries.size(), 2u);
  EXPECT_EQ(rd.committed_entries[0].index(), 2u);
  EXPECT_EQ(rd.committed_entries[1].data(), "x");
  node->Advance(rd);
  EXPECT_EQ(node->GetStatus().applied, 3u);
}

}  // namespace
}  // namespace synod::raft
