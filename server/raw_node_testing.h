// TestCore: a real raft::RawNode over a raft::MemoryLogStorage, for the unit
// tests of the driver's parts. It persists each Ready as a driver would
// (entries, hard state) and hands back what the part under test consumes.
//
// Thread: the test's.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/memory_log_storage.h"
#include "raft/raw_node.h"

namespace synod::server::testing {

class TestCore {
 public:
  // Member `self` of a cluster bootstrapped with `voters` and `learners`
  // (snapshot at index 1, term 1).
  TestCore(raft::NodeId self, const std::vector<raft::NodeId>& voters,
           const std::vector<raft::NodeId>& learners = {}) {
    raft::ConfState cs;
    for (raft::NodeId v : voters) cs.add_voters(v);
    for (raft::NodeId l : learners) cs.add_learners(l);
    EXPECT_TRUE(storage_.Bootstrap(cs).ok());
    raft::Config config;
    config.id = self;
    config.storage = &storage_;
    config.applied = 1;
    absl::StatusOr<std::unique_ptr<raft::RawNode>> node = raft::RawNode::Create(config);
    EXPECT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }

  raft::RawNode* node() { return node_.get(); }
  raft::MemoryLogStorage* storage() { return &storage_; }

  // A lone voter elects itself and commits its no-op.
  void LeadAlone() {
    ASSERT_TRUE(node_->Campaign().ok());
    Drain();
    ASSERT_EQ(node_->soft_state().role, raft::Role::kLeader);
  }

  // What one Ready handed out, after it was persisted and advanced.
  struct Handled {
    std::vector<raft::Entry> appended;
    std::vector<raft::Entry> committed;
    std::vector<raft::Message> messages;  // both kinds
  };
  Handled Persist() {
    raft::Ready rd = node_->GetReady();
    Handled h;
    h.appended = rd.entries;
    h.committed = rd.committed_entries;
    h.messages = rd.messages;
    h.messages.insert(h.messages.end(), rd.persisted_messages.begin(), rd.persisted_messages.end());
    EXPECT_TRUE(storage_.Append(rd.entries).ok());
    if (rd.hard_state) storage_.SetHardState(*rd.hard_state);
    node_->Advance(rd);
    return h;
  }
  // Persists every Ready; returns them all, concatenated.
  Handled Drain() {
    Handled all;
    while (node_->HasReady()) {
      Handled h = Persist();
      all.appended.insert(all.appended.end(), h.appended.begin(), h.appended.end());
      all.committed.insert(all.committed.end(), h.committed.begin(), h.committed.end());
      all.messages.insert(all.messages.end(), h.messages.begin(), h.messages.end());
    }
    return all;
  }

 private:
  raft::MemoryLogStorage storage_;
  std::unique_ptr<raft::RawNode> node_;
};

// A message from `from` to `to` in `term`.
inline raft::Message Msg(raft::MessageType type, raft::NodeId from, raft::NodeId to,
                         raft::Term term) {
  raft::Message m;
  m.set_type(type);
  m.set_from(from);
  m.set_to(to);
  m.set_term(term);
  return m;
}

// What a leader `from` in `term` sends `to`: entries after (index,
// log_term), with commit index `commit`.
inline raft::Message AppendMsg(raft::NodeId from, raft::NodeId to, raft::Term term,
                               raft::LogIndex index, raft::Term log_term,
                               std::vector<raft::Entry> entries, raft::LogIndex commit) {
  raft::Message m = Msg(raft::MessageType::MSG_APP, from, to, term);
  m.set_index(index);
  m.set_log_term(log_term);
  m.set_commit(commit);
  for (raft::Entry& e : entries) *m.add_entries() = std::move(e);
  return m;
}

inline raft::Entry EntryAt(raft::Term term, raft::LogIndex index, std::string data = "") {
  raft::Entry e;
  e.set_term(term);
  e.set_index(index);
  e.set_data(std::move(data));
  return e;
}

}  // namespace synod::server::testing
