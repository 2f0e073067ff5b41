#include "raft/tracker.h"

#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "base/check.h"

namespace synod::raft {

void ProgressTracker::InsertSorted(std::vector<NodeId>* ids, NodeId id) {
  auto it = std::lower_bound(ids->begin(), ids->end(), id);
  if (it == ids->end() || *it != id) ids->insert(it, id);
}

void ProgressTracker::EraseFrom(std::vector<NodeId>* ids, NodeId id) {
  auto it = std::lower_bound(ids->begin(), ids->end(), id);
  if (it != ids->end() && *it == id) ids->erase(it);
}

void ProgressTracker::SetConfState(const ConfState& conf_state, LogIndex next) {
  voters_.clear();
  learners_.clear();
  progress_.clear();
  for (NodeId id : conf_state.voters()) AddVoter(id, next);
  for (NodeId id : conf_state.learners()) AddLearner(id, next);
}

ConfState ProgressTracker::GetConfState() const {
  ConfState cs;
  for (NodeId id : voters_) cs.add_voters(id);
  for (NodeId id : learners_) cs.add_learners(id);
  return cs;
}

bool ProgressTracker::IsVoter(NodeId id) const {
  return std::binary_search(voters_.begin(), voters_.end(), id);
}

bool ProgressTracker::IsLearner(NodeId id) const {
  return std::binary_search(learners_.begin(), learners_.end(), id);
}

Progress* ProgressTracker::Get(NodeId id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

void ProgressTracker::AddVoter(NodeId id, LogIndex next) {
  if (IsLearner(id)) {
    PromoteLearner(id);
    return;
  }
  InsertSorted(&voters_, id);
  progress_.try_emplace(id, next, max_inflight_, max_inflight_bytes_, /*is_learner=*/false);
}

void ProgressTracker::AddLearner(NodeId id, LogIndex next) {
  SYNOD_CHECK(!IsVoter(id)) << "node " << id << " is a voter; it cannot become a learner";
  InsertSorted(&learners_, id);
  progress_.try_emplace(id, next, max_inflight_, max_inflight_bytes_, /*is_learner=*/true);
}

void ProgressTracker::PromoteLearner(NodeId id) {
  SYNOD_CHECK(IsLearner(id)) << "node " << id << " is not a learner";
  EraseFrom(&learners_, id);
  InsertSorted(&voters_, id);
  progress_.at(id).learner = false;
}

void ProgressTracker::Remove(NodeId id) {
  EraseFrom(&voters_, id);
  EraseFrom(&learners_, id);
  progress_.erase(id);
}

LogIndex ProgressTracker::Committed() const {
  // Runs on every acknowledgement: no allocation for usual cluster sizes.
  absl::InlinedVector<LogIndex, 8> acked;
  for (NodeId id : voters_) acked.push_back(progress_.at(id).match);
  return MajorityCommittedIndex(absl::MakeSpan(acked));
}

bool ProgressTracker::QuorumActive(NodeId self) const {
  size_t active = 0;
  for (NodeId id : voters_) {
    if (id == self || progress_.at(id).recent_active) ++active;
  }
  return active >= MajorityOf(voters_.size());
}

std::pair<size_t, size_t> ProgressTracker::VoteCounts() const {
  size_t granted = 0;
  size_t rejected = 0;
  for (NodeId id : voters_) {
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    (it->second ? granted : rejected)++;
  }
  return {granted, rejected};
}

}  // namespace synod::raft
