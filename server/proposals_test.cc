// Proposals against a real RawNode: a lone voter that leads, and member 1
// following member 2 (the test speaks for 2).
#include "server/proposals.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/raw_node_testing.h"

namespace synod::server {
namespace {

using testing::AppendMsg;
using testing::EntryAt;
using testing::TestCore;

v1::Command Create(const std::string& path, uint64_t request = 0) {
  v1::Command c;
  c.mutable_txn()->add_ops()->mutable_create()->set_path(path);
  c.set_origin_request(request);
  return c;
}

// A proposal member 2 forwards to 1, made in `term`.
raft::Message Forwarded(std::vector<v1::Command> commands, raft::Term term) {
  raft::Message m;
  m.set_type(raft::MessageType::MSG_PROP);
  m.set_from(2);
  m.set_to(1);
  for (v1::Command& c : commands) {
    c.set_proposal_term(term);
    m.add_entries()->set_data(c.SerializeAsString());
  }
  return m;
}

std::vector<v1::Command> Commands(const std::vector<raft::Entry>& entries) {
  std::vector<v1::Command> out;
  for (const raft::Entry& e : entries) {
    v1::Command c;
    if (!e.data().empty() && c.ParseFromString(e.data())) out.push_back(c);
  }
  return out;
}

class ProposalsTest : public ::testing::Test {
 protected:
  Proposals::Hooks Hooks() {
    Proposals::Hooks hooks;
    hooks.pending = [this](uint64_t id) { return finished_.count(id) == 0; };
    hooks.refuse = [this](uint64_t id, v1::ErrorCode code, const std::string&) {
      refused_[id] = code;
    };
    hooks.mark_proposed = [this](std::vector<uint64_t> ids) { marked_.push_back(ids); };
    hooks.fail_after = [this](raft::LogIndex index, std::vector<uint64_t> ids) {
      for (uint64_t id : ids) failed_after_[id] = index;
    };
    hooks.now_ms = [this] { return clock_ms_; };
    return hooks;
  }

  int64_t clock_ms_ = 1000;
  std::map<uint64_t, bool> finished_;
  std::map<uint64_t, v1::ErrorCode> refused_;
  std::vector<std::vector<uint64_t>> marked_;
  std::map<uint64_t, raft::LogIndex> failed_after_;
};

TEST_F(ProposalsTest, ProposalCarriesTheTermTheClockAndTheOrigin) {
  TestCore core(1, {1});
  core.LeadAlone();
  Proposals proposals(1, Hooks());
  v1::Command a = Create("/a", 7);
  proposals.Propose(core.node(), true, &a);
  clock_ms_ = 400;  // the wall clock steps back
  v1::Command b = Create("/b", 8);
  proposals.Propose(core.node(), true, &b);
  proposals.Flush();
  ASSERT_EQ(marked_.size(), 1u);
  EXPECT_EQ(marked_[0], (std::vector<uint64_t>{7, 8}));
  EXPECT_EQ(proposals.remembered(), 2u);
  std::vector<v1::Command> appended = Commands(core.Drain().appended);
  ASSERT_EQ(appended.size(), 2u);
  for (const v1::Command& c : appended) {
    EXPECT_EQ(c.proposal_term(), core.node()->term());
    EXPECT_EQ(c.origin_member(), 1u);
    EXPECT_EQ(c.leader_time_ms(), 1000);  // never back within the process
  }
}

TEST_F(ProposalsTest, WithoutLeaderAWriteIsRefusedAndNotRemembered) {
  TestCore core(1, {1, 2});
  Proposals proposals(1, Hooks());
  v1::Command a = Create("/a", 7);
  proposals.Propose(core.node(), false, &a);
  proposals.Flush();
  EXPECT_EQ(refused_[7], v1::UNAVAILABLE);
  EXPECT_TRUE(marked_.empty());
  EXPECT_EQ(proposals.remembered(), 0u);
}

TEST_F(ProposalsTest, LeaderKeepsForwardedWritesOfItsTermOnlyAndRestampsThem) {
  TestCore core(1, {1});
  core.LeadAlone();
  Proposals proposals(1, Hooks());
  const raft::Term term = core.node()->term();
  raft::Message m = Forwarded({Create("/earlier")}, term - 1);
  v1::Command now = Create("/now");
  now.set_proposal_term(term);
  now.set_leader_time_ms(5);
  m.add_entries()->set_data(now.SerializeAsString());
  raft::Entry* change = m.add_entries();
  change->set_type(raftpb::ENTRY_CONF_CHANGE);
  m.add_entries();  // no command at all
  ASSERT_TRUE(proposals.FilterForwarded(*core.node(), /*from_member=*/true, &m));
  std::vector<v1::Command> kept = Commands({m.entries().begin(), m.entries().end()});
  ASSERT_EQ(m.entries_size(), 1);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].txn().ops(0).create().path(), "/now");
  EXPECT_EQ(kept[0].leader_time_ms(), 1000);
  // The kept entry is one the core appends.
  ASSERT_TRUE(core.node()->Step(m).ok());
  EXPECT_EQ(Commands(core.Drain().appended).size(), 1u);

  raft::Message from_stranger = Forwarded({Create("/x")}, term);
  EXPECT_FALSE(proposals.FilterForwarded(*core.node(), /*from_member=*/false, &from_stranger));
  raft::Message all_stale = Forwarded({Create("/y")}, term + 1);
  EXPECT_FALSE(proposals.FilterForwarded(*core.node(), true, &all_stale));
}

class FollowerTest : public ProposalsTest {
 protected:
  // Member 2 leads `term` and 1 has its entry at `index`, committed.
  void FollowTwo(raft::Term term, raft::LogIndex index, raft::Term prev_term) {
    ASSERT_TRUE(
        core_.node()
            ->Step(AppendMsg(2, 1, term, index - 1, prev_term, {EntryAt(term, index)}, index))
            .ok());
    committed_ = core_.Drain().committed;
    ASSERT_EQ(core_.node()->soft_state().leader, 2u);
  }
  TestCore core_{1, {1, 2}};
  std::vector<raft::Entry> committed_;
};

TEST_F(FollowerTest, FollowerForwardsNoWriteOfAnotherTermAndDoesNotRestamp) {
  FollowTwo(3, 2, 1);
  Proposals proposals(1, Hooks());
  raft::Message m = Forwarded({Create("/old")}, 2);
  EXPECT_FALSE(proposals.FilterForwarded(*core_.node(), true, &m));
  v1::Command now = Create("/now");
  now.set_leader_time_ms(5);
  raft::Message n = Forwarded({now}, 3);
  ASSERT_TRUE(proposals.FilterForwarded(*core_.node(), true, &n));
  EXPECT_EQ(Commands({n.entries().begin(), n.entries().end()})[0].leader_time_ms(), 5);
}

TEST_F(FollowerTest, AnEntryOfALaterTermDecidesTheWritesOfEarlierTerms) {
  FollowTwo(2, 2, 1);
  Proposals proposals(1, Hooks());
  proposals.OnCommitted(committed_);
  v1::Command w = Create("/w", 7);
  proposals.Propose(core_.node(), true, &w);
  v1::Command done = Create("/done", 9);
  proposals.Propose(core_.node(), true, &done);
  proposals.Flush();
  // Forwarded to the leader, stamped with term 2.
  std::vector<raft::Entry> forwarded;
  for (const raft::Message& m : core_.Drain().messages) {
    if (m.type() == raft::MessageType::MSG_PROP) {
      forwarded.insert(forwarded.end(), m.entries().begin(), m.entries().end());
    }
  }
  ASSERT_EQ(Commands(forwarded).size(), 2u);
  EXPECT_EQ(Commands(forwarded)[0].proposal_term(), 2u);
  // Another entry of term 2 decides nothing.
  ASSERT_TRUE(core_.node()->Step(AppendMsg(2, 1, 2, 2, 2, {EntryAt(2, 3)}, 3)).ok());
  proposals.OnCommitted(core_.Drain().committed);
  EXPECT_TRUE(failed_after_.empty());
  // Member 2 leads term 3; its first entry is committed.
  ASSERT_TRUE(core_.node()->Step(AppendMsg(2, 1, 3, 3, 2, {EntryAt(3, 4)}, 4)).ok());
  v1::Command later = Create("/later", 8);
  proposals.Propose(core_.node(), true, &later);
  proposals.Flush();
  proposals.OnCommitted(core_.Drain().committed);
  EXPECT_EQ(failed_after_.size(), 2u);
  EXPECT_EQ(failed_after_[7], 4u);
  EXPECT_EQ(failed_after_[9], 4u);
  EXPECT_EQ(failed_after_.count(8), 0u);  // proposed in term 3
  EXPECT_EQ(proposals.remembered(), 1u);
}

}  // namespace
}  // namespace synod::server
