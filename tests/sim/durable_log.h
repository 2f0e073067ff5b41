// DurableLog: the simulated disk of one replica, seen by its core as a
// raft::LogStorage.
//
// It holds only what the driver has written: a Ready's snapshot, entries and
// hard state land here when the simulated write completes, and so does the
// driver's own snapshot + compaction. It survives a crash of its replica;
// Crash() reverts what was written since the last Sync(), as a write-ahead
// log loses its unsynced tail (a commit-only Ready may be written without
// fsync, see ready.h).
//
// The simulator has its own storage rather than raft's MemoryLogStorage so
// that it checks the core against the LogStorage contract and not against a
// companion of the code under test, and so that a write the contract forbids
// (a gap, rewriting a committed entry, a stale snapshot) is reported as a
// violation with its seed instead of aborting the run.
//
// Layout: [snapshot] ... offset_ | entries_[0] = offset_+1 ... LastIndex().
// Invariant: offset_ <= snapshot index (entries are compacted only once a
// snapshot covers them); offset_term_ is the term of entry offset_.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/log_storage.h"
#include "raft/types.h"

namespace synod::sim {

class DurableLog : public raft::LogStorage {
 public:
  // An empty disk (a replica that joins later).
  DurableLog() = default;

  // raft::LogStorage.
  absl::StatusOr<raft::InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<raft::Entry>> Entries(raft::LogIndex lo, raft::LogIndex hi,
                                                   uint64_t max_bytes) const override;
  absl::StatusOr<raft::Term> TermAt(raft::LogIndex i) const override;
  raft::LogIndex FirstIndex() const override { return offset_ + 1; }
  raft::LogIndex LastIndex() const override { return offset_ + entries_.size(); }
  absl::StatusOr<raft::Snapshot> GetSnapshot() const override;

  // Writes by the driver. Each returns FailedPrecondition, naming the broken
  // rule, when the write would violate the storage contract.
  //
  // Replaces the whole log by the snapshot (entries after it are dropped:
  // the core hands out a snapshot only when the log does not already match
  // it). Refused if it is not newer than the current snapshot.
  absl::Status ApplySnapshot(const raft::Snapshot& snapshot);
  // Appends entries, first overwriting any suffix from entries[0].index.
  // Refused if it leaves a gap or rewrites an entry at or below the durable
  // commit index.
  absl::Status Append(const std::vector<raft::Entry>& entries);
  void SetHardState(const raft::HardState& hard_state) { hard_state_ = hard_state; }
  // fsync: everything written so far survives a crash. Entries and
  // snapshots are only ever written by synced operations, so only the hard
  // state can be lost (a commit-only Ready, written without fsync).
  void Sync() { synced_hard_state_ = hard_state_; }
  // The driver's own snapshot of its state machine at `index` (<= LastIndex).
  absl::Status CreateSnapshot(raft::LogIndex index, const raft::ConfState& conf_state,
                              std::string data);
  // Drops entries up to `index` (<= snapshot index).
  absl::Status Compact(raft::LogIndex index);
  // Loses what was not synced.
  void Crash() { hard_state_ = synced_hard_state_; }
  // Fault: GetSnapshot answers Unavailable (a snapshot is being produced).
  void set_snapshot_unavailable(bool unavailable) { snapshot_unavailable_ = unavailable; }

  const raft::HardState& hard_state() const { return hard_state_; }
  const raft::Snapshot& snapshot() const { return snapshot_; }

 private:
  raft::Snapshot snapshot_;
  raft::LogIndex offset_ = 0;
  raft::Term offset_term_ = 0;
  std::vector<raft::Entry> entries_;
  raft::HardState hard_state_;
  raft::HardState synced_hard_state_;
  bool snapshot_unavailable_ = false;
};

}  // namespace synod::sim
