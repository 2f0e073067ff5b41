// ProgressTracker: the membership (voters and learners) as this node
// currently applies it, the leader's Progress for each member, and the votes
// of the election in progress.
//
// Thread: owned by one RaftImpl, single-threaded.
// Invariants: voters_ and learners_ are sorted and disjoint; progress_ has
//   exactly one entry per member. std::map keeps iteration (and so message
//   order) deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/types.h"

namespace synod::raft {

class ProgressTracker {
 public:
  ProgressTracker(size_t max_inflight, uint64_t max_inflight_bytes)
      : max_inflight_(max_inflight), max_inflight_bytes_(max_inflight_bytes) {}

  // Replaces the membership; members get fresh progress starting at `next`.
  void SetConfState(const ConfState& conf_state, LogIndex next);
  ConfState GetConfState() const;

  const std::vector<NodeId>& voters() const { return voters_; }
  const std::vector<NodeId>& learners() const { return learners_; }
  bool IsVoter(NodeId id) const;
  bool IsLearner(NodeId id) const;
  bool IsMember(NodeId id) const { return progress_.count(id) > 0; }

  std::map<NodeId, Progress>& progress() { return progress_; }
  const std::map<NodeId, Progress>& progress() const { return progress_; }
  Progress* Get(NodeId id);

  // Membership edits (single-server changes, see membership.cc).
  void AddVoter(NodeId id, LogIndex next);
  void AddLearner(NodeId id, LogIndex next);
  void PromoteLearner(NodeId id);
  void Remove(NodeId id);

  // Highest index stored by a majority of voters (their Progress::match).
  LogIndex Committed() const;
  // A majority of voters was heard from recently (§6.2), self included.
  bool QuorumActive(NodeId self) const;
  void ResetVotes() { votes_.clear(); }
  void RecordVote(NodeId id, bool granted) { votes_.emplace(id, granted); }
  VoteResult TallyVotes() const { return raft::TallyVotes(voters_, votes_); }
  // Granted and rejected votes among voters.
  std::pair<size_t, size_t> VoteCounts() const;

 private:
  void InsertSorted(std::vector<NodeId>* ids, NodeId id);
  void EraseFrom(std::vector<NodeId>* ids, NodeId id);

  size_t max_inflight_;
  uint64_t max_inflight_bytes_;
  std::vector<NodeId> voters_;
  std::vector<NodeId> learners_;
  std::map<NodeId, Progress> progress_;
  std::map<NodeId, bool> votes_;
};

}  // namespace synod::raft
