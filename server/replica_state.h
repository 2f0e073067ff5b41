// ReplicaState: what every reply header says about the serving replica, and
// what Cluster.Status shows: published by the raft and apply threads, read
// by any thread without locks on the hot path.
//
// Thread: role/term/leader/commit are written by the raft thread, applied
// by the apply thread; members by the raft thread under a mutex. Readers see
// each field's latest value (fields are not a consistent snapshot together,
// which no reader needs).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "raft/types.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

class ReplicaState {
 public:
  ReplicaState(uint64_t cluster_id, raft::NodeId self) : cluster_id_(cluster_id), self_(self) {}

  uint64_t cluster_id() const { return cluster_id_; }
  raft::NodeId self() const { return self_; }

  raft::NodeId leader() const { return leader_.load(std::memory_order_acquire); }
  raft::Role role() const { return role_.load(std::memory_order_acquire); }
  raft::Term term() const { return term_.load(std::memory_order_acquire); }
  raft::LogIndex commit() const { return commit_.load(std::memory_order_acquire); }
  raft::LogIndex applied() const { return applied_.load(std::memory_order_acquire); }
  bool serving() const { return serving_.load(std::memory_order_acquire); }

  void set_leader(raft::NodeId v) { leader_.store(v, std::memory_order_release); }
  void set_role(raft::Role v) { role_.store(v, std::memory_order_release); }
  void set_term(raft::Term v) { term_.store(v, std::memory_order_release); }
  void set_commit(raft::LogIndex v) { commit_.store(v, std::memory_order_release); }
  void set_applied(raft::LogIndex v) { applied_.store(v, std::memory_order_release); }
  // False once shutdown began: new requests are refused with UNAVAILABLE.
  void set_serving(bool v) { serving_.store(v, std::memory_order_release); }

  std::vector<v1::Member> members() const {
    absl::MutexLock lock(&mu_);
    return members_;
  }
  void set_members(std::vector<v1::Member> members) {
    absl::MutexLock lock(&mu_);
    members_ = std::move(members);
  }

  // Fills a reply header: this replica, its leader, its applied revision,
  // its term, and the outcome.
  void FillHeader(v1::ResponseHeader* header, v1::ErrorCode code = v1::OK,
                  const std::string& message = "") const {
    header->set_cluster_id(cluster_id_);
    header->set_member_id(self_);
    header->set_leader_id(leader());
    header->set_revision(applied());
    header->set_raft_term(term());
    header->set_code(code);
    if (!message.empty()) header->set_message(message);
  }

 private:
  const uint64_t cluster_id_;
  const raft::NodeId self_;
  std::atomic<raft::NodeId> leader_{raft::kNoNode};
  std::atomic<raft::Role> role_{raft::Role::kFollower};
  std::atomic<raft::Term> term_{0};
  std::atomic<raft::LogIndex> commit_{0};
  std::atomic<raft::LogIndex> applied_{0};
  std::atomic<bool> serving_{true};
  mutable absl::Mutex mu_;
  std::vector<v1::Member> members_ ABSL_GUARDED_BY(mu_);  // sorted by id
};

}  // namespace synod::server
