// MemoryLogStorage: a LogStorage kept in memory, for tests, the simulator and
// benchmarks. The driver writes to it what a Ready asks to persist; the core
// only reads it.
//
// Thread: not thread-safe; one owner (the raft thread, or the simulator).
// Invariants: entries_ holds the contiguous entries (compacted index,
//   LastIndex()]; compacted index <= snapshot index; the term of the
//   compacted index is kept, so TermAt(FirstIndex() - 1) works.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace synod::raft {

class MemoryLogStorage : public LogStorage {
 public:
  MemoryLogStorage() = default;

  // LogStorage.
  absl::StatusOr<InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<Entry>> Entries(LogIndex lo, LogIndex hi,
                                             uint64_t max_bytes) const override;
  absl::StatusOr<Term> TermAt(LogIndex i) const override;
  LogIndex FirstIndex() const override;
  LogIndex LastIndex() const override;
  absl::StatusOr<Snapshot> GetSnapshot() const override;

  // Makes a brand-new member of the initial cluster: a snapshot at index 1,
  // term 1 holding `conf_state` (and no data), and hard state {term 1,
  // commit 1}. Every initial member bootstraps the same way, so a member
  // added later (empty storage) is caught up by a snapshot that carries the
  // membership. Fails if the storage is not empty.
  absl::Status Bootstrap(const ConfState& conf_state);

  // Appends entries (Ready::entries), replacing any conflicting tail.
  // Entries at or below the snapshot index are skipped. OutOfRange if the
  // entries would leave a gap after LastIndex().
  absl::Status Append(std::vector<Entry> entries);
  void SetHardState(const HardState& hard_state) { hard_state_ = hard_state; }
  // The membership as of the driver's applied index, returned by
  // GetInitialState(). ApplySnapshot sets it from the snapshot; a driver that
  // keeps its state machine across restarts calls this after every
  // RawNode::ApplyConfChange.
  void SetConfState(const ConfState& conf_state) { conf_state_ = conf_state; }
  // Installs a snapshot received from the leader (Ready::snapshot): drops
  // every entry, keeps the snapshot. FailedPrecondition if it is older than
  // the current one.
  absl::Status ApplySnapshot(Snapshot snapshot);
  // Records the state machine's snapshot at `index` (<= LastIndex()). Does
  // not compact and does not change the conf state GetInitialState returns.
  // FailedPrecondition if index is not newer than the current snapshot.
  absl::StatusOr<Snapshot> CreateSnapshot(LogIndex index, const ConfState& conf_state,
                                          std::string data);
  // Drops entries up to and including `index`, which must not exceed the
  // latest snapshot's index (a follower needing a dropped entry is sent that
  // snapshot, so it must cover it). The term of `index` stays known.
  // FailedPrecondition if already compacted or beyond the snapshot.
  absl::Status Compact(LogIndex index);

  const HardState& hard_state() const { return hard_state_; }

 private:
  HardState hard_state_;
  ConfState conf_state_;
  Snapshot snapshot_;
  // The entry just before entries_.front(): compacted, its term kept.
  LogIndex compacted_index_ = 0;
  Term compacted_term_ = 0;
  std::deque<Entry> entries_;  // entries_[k].index() == compacted_index_ + 1 + k
};

}  // namespace synod::raft
