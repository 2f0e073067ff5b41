// Checker: the cluster-wide Raft safety properties, checked as replicas act.
//
// The simulated drivers report to it every entry a replica appends, every
// hard state it persists, every role change, snapshot install and applied
// entry. It remembers what any replica has seen committed, so a later
// contradiction is caught at the step that causes it:
//   - election safety: at most one leader per term;
//   - log matching: an (index, term) pair names one entry, with one
//     predecessor term, on every replica; log terms never fall;
//   - leader completeness: a new leader's log holds every entry seen
//     committed in an earlier term;
//   - state machine safety: every replica applies the same entry at an index
//     and reaches the same digest there, snapshots included;
//   - no committed entry is lost: a committed index never changes its term,
//     on any replica, across crashes;
//   - durable term/vote/commit never go back; one vote per voter and term,
//     counting the votes it sent.
// The first violation is kept (with its simulated time) and ends the run.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "raft/types.h"
#include "tests/sim/durable_log.h"

namespace synod::sim {

class Checker {
 public:
  // `now` is the simulation clock, read to date violations.
  explicit Checker(const uint64_t* now) : now_(now) {}

  void Fail(const std::string& what);
  // A liveness failure (no progress after healing), told apart from the
  // safety violations above.
  void FailLiveness(const std::string& what);
  bool failed() const { return !failure_.empty(); }
  bool liveness_failure() const { return liveness_failure_; }
  const std::string& failure() const { return failure_; }

  // `id` became leader of `term`; `log` is its durable log, which holds
  // every entry it had before winning.
  void OnLeader(raft::NodeId id, raft::Term term, const DurableLog& log);
  // `id` is about to append `entries` to `log`.
  void OnAppend(raft::NodeId id, const DurableLog& log, const std::vector<raft::Entry>& entries);
  // `id` persisted `after` over `before`; `log` already holds the Ready's
  // entries.
  void OnHardState(raft::NodeId id, const raft::HardState& before, const raft::HardState& after,
                   const DurableLog& log);
  // `id`, in `term`, installed a snapshot into its state machine, reaching
  // `digest`.
  void OnSnapshot(raft::NodeId id, raft::Term term, const raft::SnapshotMetadata& metadata,
                  uint64_t digest);
  // `id`, in `term`, applied `entry`, reaching `digest`.
  void OnApply(raft::NodeId id, raft::Term term, const raft::Entry& entry, uint64_t digest);
  // Leader `id` advanced its commit index to `commit`, counting replicas
  // among `voters` (its configuration, with each voter's durable log; a
  // missing log is an empty one). Commit safety (§3.6.2): no voter that
  // lacks the entry may be able to win an election, i.e. find a majority of
  // voters whose logs are no more up-to-date than its own. In correct Raft
  // the majority storing a current-term entry at `commit` rules that out;
  // an entry of an earlier term committed by counting replicas does not.
  void OnLeaderCommit(raft::NodeId id, raft::LogIndex commit,
                      const std::vector<std::pair<raft::NodeId, const DurableLog*>>& voters);
  // `voter` granted its vote in `term` to `candidate` (a vote sent, or a
  // candidate's durable vote for itself): one vote per voter and term,
  // across crashes.
  void OnVote(raft::NodeId voter, raft::Term term, raft::NodeId candidate);
  // `id` restarts from `log`: what it holds as committed must still be so.
  void OnRestart(raft::NodeId id, const DurableLog& log);

  // Entries known committed so far (the highest index).
  raft::LogIndex max_committed() const {
    return committed_.empty() ? 0 : committed_.rbegin()->first;
  }
  size_t leaders_elected() const { return leaders_.size(); }

 private:
  struct EntryInfo {
    uint64_t hash = 0;
    raft::Term prev_term = 0;
    bool prev_known = false;
  };

  struct Committed {
    raft::Term term = 0;  // the entry's term
    // The lowest term in which a node saw it committed: it was committed in
    // this term or earlier, so every leader of a later term must hold it.
    raft::Term seen_in = 0;
  };

  // Records that (index, term) is committed, as `id` saw it in `seen_in`.
  void Commit(raft::NodeId id, raft::LogIndex index, raft::Term term, raft::Term seen_in,
              const char* how);

  const uint64_t* now_;
  std::string failure_;
  bool liveness_failure_ = false;
  std::map<raft::Term, raft::NodeId> leaders_;
  std::map<std::pair<raft::NodeId, raft::Term>, raft::NodeId> votes_;
  std::map<std::pair<raft::LogIndex, raft::Term>, EntryInfo> entries_;
  std::map<raft::LogIndex, Committed> committed_;
  std::map<raft::LogIndex, uint64_t> digests_;
};

}  // namespace synod::sim
