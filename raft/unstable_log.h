// UnstableLog: the tail of the log (and possibly a snapshot) that the core
// holds but the driver has not yet reported durable.
//
// Thread: owned by one RaftLog, single-threaded.
// Invariants:
//   - entries_[k].index() == offset_ + k; indexes are contiguous.
//   - if snapshot_ is set, offset_ == snapshot_->metadata().index() + 1.
//   - in_progress_ <= entries_.size(): the first in_progress_ entries were
//     handed to the driver in the outstanding Ready (being written).
// Entries leave when the driver acknowledges them (StableTo) or when a new
// leader's entries replace a conflicting tail (TruncateAndAppend).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "raft/types.h"

namespace synod::raft {

class UnstableLog {
 public:
  explicit UnstableLog(LogIndex offset) : offset_(offset) {}

  // Index of the first unstable entry (everything before it is durable or
  // covered by the unstable snapshot).
  LogIndex offset() const { return offset_; }
  const std::optional<Snapshot>& snapshot() const { return snapshot_; }
  const std::deque<Entry>& entries() const { return entries_; }

  // The first index, if only a snapshot is known (snapshot index + 1).
  std::optional<LogIndex> MaybeFirstIndex() const;
  // The last index, if the unstable part knows it.
  std::optional<LogIndex> MaybeLastIndex() const;
  // The term of entry i, if the unstable part knows it.
  std::optional<Term> MaybeTerm(LogIndex i) const;

  // Appends entries, dropping any existing entry at or after the first new
  // index (the caller has made sure none of those is committed).
  void TruncateAndAppend(std::vector<Entry>&& entries);
  void Append(Entry&& entry);
  // Copies the entries in [lo, hi) into out (at most max_bytes, at least one).
  void Slice(LogIndex lo, LogIndex hi, uint64_t max_bytes, std::vector<Entry>* out,
             uint64_t* bytes) const;

  // Replaces everything with a snapshot received from the leader.
  void Restore(Snapshot snapshot);

  // Entries and snapshot not yet handed to the driver.
  bool HasPendingEntries() const { return in_progress_ < entries_.size(); }
  bool HasPendingSnapshot() const { return snapshot_.has_value() && !snapshot_in_progress_; }
  // Hands the pending entries (copies) and snapshot to the driver and marks
  // them in progress.
  std::vector<Entry> TakePendingEntries();
  std::optional<Snapshot> TakePendingSnapshot();

  // The driver made everything up to entry (index, term) durable. Ignored
  // if that entry has been replaced meanwhile (its term no longer matches).
  void StableTo(LogIndex index, Term term);
  // The driver made the snapshot at `index` durable.
  void StableSnapTo(LogIndex index);

 private:
  std::optional<Snapshot> snapshot_;
  bool snapshot_in_progress_ = false;
  std::deque<Entry> entries_;
  LogIndex offset_;
  size_t in_progress_ = 0;
};

}  // namespace synod::raft
