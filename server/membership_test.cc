// Membership against a real RawNode: member 1 leads alone, then with the
// members it adds.
#include "server/membership.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/raw_node_testing.h"

namespace synod::server {
namespace {

using testing::TestCore;

v1::Member MemberAt(raft::NodeId id, const std::string& peer_addr) {
  v1::Member m;
  m.set_id(id);
  m.set_peer_addr(peer_addr);
  return m;
}

MembershipRequest Change(raft::ConfChange::Type type, raft::NodeId id, uint64_t request,
                         const std::string& peer_addr = "") {
  MembershipRequest r;
  r.change.set_type(type);
  r.change.set_node_id(id);
  if (!peer_addr.empty()) r.change.set_context(MemberAt(id, peer_addr).SerializeAsString());
  r.request_id = request;
  return r;
}

MembershipRequest Transfer(raft::NodeId to, uint64_t request) {
  MembershipRequest r;
  r.kind = MembershipRequest::Kind::kTransfer;
  r.transferee = to;
  r.request_id = request;
  return r;
}

class MembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core_.LeadAlone();
    Membership::Point start;
    start.index = 1;
    start.conf_state.add_voters(1);
    start.members[1] = MemberAt(1, "a:1");
    membership_.Reset(start);
  }

  Membership::Options Options() {
    Membership::Options options;
    options.self = 1;
    options.election_ticks = 3;
    return options;
  }
  Membership::Hooks Hooks() {
    Membership::Hooks hooks;
    hooks.pending = [this](uint64_t id) { return outcomes_.count(id) == 0 && !expired_.count(id); };
    hooks.complete = [this](uint64_t id, const server::Outcome& o) {
      EXPECT_EQ(outcomes_.count(id), 0u) << "request " << id << " completed twice";
      outcomes_[id] = o.code;
    };
    hooks.mark_proposed = [this](uint64_t id) { proposed_.push_back(id); };
    hooks.reachable = [](raft::NodeId) { return true; };
    hooks.install = [this](std::vector<v1::Member> members,
                           std::map<raft::NodeId, std::string> peers) {
      members_ = std::move(members);
      peers_ = std::move(peers);
    };
    return hooks;
  }
  // Persists every Ready, applying the membership changes it commits.
  void Apply() {
    for (const raft::Entry& e : core_.Drain().committed) {
      if (e.type() == raftpb::ENTRY_CONF_CHANGE) membership_.ApplyEntry(core_.node(), e);
    }
  }
  std::optional<v1::ErrorCode> Result(uint64_t id) {
    auto it = outcomes_.find(id);
    if (it == outcomes_.end()) return std::nullopt;
    return it->second;
  }
  void Request(const MembershipRequest& r) {
    membership_.Request(core_.node(), core_.node()->soft_state().role, r);
  }

  TestCore core_{1, {1}};
  std::map<uint64_t, v1::ErrorCode> outcomes_;
  std::map<uint64_t, bool> expired_;
  std::vector<uint64_t> proposed_;
  std::vector<v1::Member> members_;
  std::map<raft::NodeId, std::string> peers_;
  Membership membership_{Options(), Hooks()};
};

TEST_F(MembershipTest, ResetInstallsTheStartingMembers) {
  ASSERT_EQ(members_.size(), 1u);
  EXPECT_EQ(members_[0].id(), 1u);
  EXPECT_TRUE(peers_.empty());  // only itself
  EXPECT_TRUE(membership_.IsMember(1));
  EXPECT_FALSE(membership_.IsMember(2));
}

TEST_F(MembershipTest, AChangeCompletesOnceAppliedAndIsInstalled) {
  Request(Change(raft::ConfChange::ADD_LEARNER, 2, 10, "b:1"));
  EXPECT_EQ(proposed_, (std::vector<uint64_t>{10}));
  EXPECT_FALSE(Result(10).has_value());
  Apply();
  EXPECT_EQ(Result(10), v1::OK);
  EXPECT_TRUE(membership_.IsMember(2));
  ASSERT_EQ(membership_.current().members.count(2), 1u);
  EXPECT_TRUE(membership_.current().members.at(2).learner());
  EXPECT_EQ(peers_, (std::map<raft::NodeId, std::string>{{2, "b:1"}}));
  ASSERT_EQ(membership_.current().conf_state.learners_size(), 1);
}

TEST_F(MembershipTest, BadChangesAreRefusedAndChangeNothing) {
  membership_.Request(core_.node(), raft::Role::kFollower,
                      Change(raft::ConfChange::ADD_LEARNER, 2, 1, "b:1"));
  Request(Change(raft::ConfChange::ADD_LEARNER, 2, 2));         // no peer address
  Request(Change(raft::ConfChange::ADD_LEARNER, 2, 3, "a:1"));  // 1's address
  Request(Change(raft::ConfChange::ADD_VOTER, 1, 4, "c:1"));
  Request(Change(raft::ConfChange::REMOVE_NODE, 5, 5));
  Request(Change(raft::ConfChange::PROMOTE_LEARNER, 5, 6));
  Request(Change(raft::ConfChange::REMOVE_NODE, 1, 7));  // no voter would remain
  Request(Transfer(5, 8));
  EXPECT_EQ(Result(1), v1::NOT_LEADER);
  EXPECT_EQ(Result(2), v1::INVALID_ARGUMENT);
  EXPECT_EQ(Result(3), v1::MEMBER_EXISTS);
  EXPECT_EQ(Result(4), v1::MEMBER_EXISTS);
  EXPECT_EQ(Result(5), v1::MEMBER_NOT_FOUND);
  EXPECT_EQ(Result(6), v1::MEMBER_NOT_FOUND);
  EXPECT_EQ(Result(7), v1::UNSAFE_MEMBERSHIP_CHANGE);
  EXPECT_EQ(Result(8), v1::MEMBER_NOT_FOUND);
  EXPECT_TRUE(proposed_.empty());
  Apply();
  EXPECT_EQ(membership_.current().index, 1u);
  EXPECT_EQ(membership_.current().members.size(), 1u);
}

TEST_F(MembershipTest, ALearnerThatNeverAnsweredIsNotPromoted) {
  Request(Change(raft::ConfChange::ADD_LEARNER, 2, 1, "b:1"));
  Apply();
  Request(Change(raft::ConfChange::PROMOTE_LEARNER, 2, 2));
  EXPECT_EQ(Result(2), v1::LEARNER_NOT_READY);
}

TEST_F(MembershipTest, OneChangeAtATime) {
  Request(Change(raft::ConfChange::ADD_LEARNER, 2, 1, "b:1"));
  Request(Change(raft::ConfChange::ADD_LEARNER, 3, 2, "c:1"));
  EXPECT_EQ(Result(2), v1::MEMBERSHIP_CHANGE_IN_PROGRESS);
  Apply();
  EXPECT_EQ(Result(1), v1::OK);
  Request(Change(raft::ConfChange::ADD_LEARNER, 3, 3, "c:1"));
  Apply();
  EXPECT_EQ(Result(3), v1::OK);
  EXPECT_EQ(membership_.current().members.size(), 3u);
}

TEST_F(MembershipTest, HistoryGivesTheMembersAsOfAnIndexUntilCompacted) {
  Request(Change(raft::ConfChange::ADD_LEARNER, 2, 1, "b:1"));
  Apply();
  const raft::LogIndex added = membership_.current().index;
  ASSERT_GT(added, 1u);
  EXPECT_EQ(membership_.At(added - 1).members.count(2), 0u);
  EXPECT_EQ(membership_.At(added).members.count(2), 1u);
  EXPECT_EQ(membership_.At(added + 100).members.count(2), 1u);
  membership_.Compact(added);
  // Before the history: the earliest point known.
  EXPECT_EQ(membership_.At(1).index, added);
}

TEST_F(MembershipTest, TransferCompletesWhenTheTransfereeLeads) {
  Request(Change(raft::ConfChange::ADD_VOTER, 2, 1, "b:1"));
  Apply();
  ASSERT_EQ(Result(1), v1::OK);
  Request(Transfer(1, 2));
  EXPECT_EQ(Result(2), v1::OK);  // already leading
  Request(Transfer(2, 3));
  Request(Transfer(2, 4));
  EXPECT_EQ(Result(4), v1::MEMBERSHIP_CHANGE_IN_PROGRESS);
  EXPECT_EQ(core_.node()->GetStatus().lead_transferee, 2u);
  membership_.OnLeader(1);
  EXPECT_FALSE(Result(3).has_value());
  membership_.OnLeader(2);
  EXPECT_EQ(Result(3), v1::OK);
}

TEST_F(MembershipTest, ATransferWhoseRequestExpiredMakesRoomForAnother) {
  Request(Change(raft::ConfChange::ADD_VOTER, 2, 1, "b:1"));
  Apply();
  Request(Transfer(2, 2));
  expired_[2] = true;
  membership_.Tick(core_.node(), raft::Role::kLeader);
  Request(Transfer(2, 3));
  EXPECT_FALSE(Result(3).has_value());  // under way, not refused
  membership_.OnLeader(2);
  EXPECT_EQ(Result(3), v1::OK);
  EXPECT_FALSE(Result(2).has_value());  // left to its deadline
}

}  // namespace
}  // namespace synod::server
