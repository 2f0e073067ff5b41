#include "raft/memory_log_storage.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace synod::raft {

absl::StatusOr<InitialState> MemoryLogStorage::GetInitialState() const {
  return InitialState{hard_state_, conf_state_};
}

LogIndex MemoryLogStorage::FirstIndex() const { return compacted_index_ + 1; }

LogIndex MemoryLogStorage::LastIndex() const { return compacted_index_ + entries_.size(); }

absl::StatusOr<Term> MemoryLogStorage::TermAt(LogIndex i) const {
  if (i < compacted_index_) {
    return absl::OutOfRangeError(absl::StrCat("index ", i, " is compacted"));
  }
  if (i == compacted_index_) return compacted_term_;
  if (i > LastIndex()) {
    return absl::NotFoundError(absl::StrCat("index ", i, " is past the last index ", LastIndex()));
  }
  return entries_[i - compacted_index_ - 1].term();
}

absl::StatusOr<std::vector<Entry>> MemoryLogStorage::Entries(LogIndex lo, LogIndex hi,
                                                             uint64_t max_bytes) const {
  if (lo <= compacted_index_) {
    return absl::OutOfRangeError(absl::StrCat("index ", lo, " is compacted"));
  }
  if (hi > LastIndex() + 1) {
    return absl::NotFoundError(
        absl::StrCat("entries up to ", hi, " requested, last index is ", LastIndex()));
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (LogIndex i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - compacted_index_ - 1];
    bytes += EntryBytes(e);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<Snapshot> MemoryLogStorage::GetSnapshot() const { return snapshot_; }

absl::Status MemoryLogStorage::Bootstrap(const ConfState& conf_state) {
  if (LastIndex() != 0 || hard_state_.term() != 0) {
    return absl::FailedPreconditionError("storage is not empty");
  }
  Snapshot snapshot;
  snapshot.mutable_metadata()->set_index(1);
  snapshot.mutable_metadata()->set_term(1);
  *snapshot.mutable_metadata()->mutable_conf_state() = conf_state;
  if (absl::Status s = ApplySnapshot(std::move(snapshot)); !s.ok()) return s;
  hard_state_.set_term(1);
  hard_state_.set_commit(1);
  return absl::OkStatus();
}

absl::Status MemoryLogStorage::Append(std::vector<Entry> entries) {
  if (entries.empty()) return absl::OkStatus();
  const LogIndex first = FirstIndex();
  if (entries.back().index() < first) return absl::OkStatus();  // all compacted
  size_t skip = 0;
  if (entries.front().index() < first) skip = first - entries.front().index();
  const LogIndex start = entries[skip].index();
  if (start > LastIndex() + 1) {
    return absl::OutOfRangeError(
        absl::StrCat("append at ", start, " leaves a gap after last index ", LastIndex()));
  }
  entries_.resize(start - first);  // drop the conflicting tail, if any
  for (size_t k = skip; k < entries.size(); ++k) entries_.push_back(std::move(entries[k]));
  return absl::OkStatus();
}

absl::Status MemoryLogStorage::ApplySnapshot(Snapshot snapshot) {
  const SnapshotMetadata& meta = snapshot.metadata();
  if (meta.index() < snapshot_.metadata().index()) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot at ", meta.index(),
                                                      " is older than the current one at ",
                                                      snapshot_.metadata().index()));
  }
  compacted_index_ = meta.index();
  compacted_term_ = meta.term();
  conf_state_ = meta.conf_state();
  entries_.clear();
  snapshot_ = std::move(snapshot);
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> MemoryLogStorage::CreateSnapshot(LogIndex index,
                                                          const ConfState& conf_state,
                                                          std::string data) {
  if (index <= snapshot_.metadata().index()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot at ", index, " is not newer than the one at ", snapshot_.metadata().index()));
  }
  if (index > LastIndex()) {
    return absl::OutOfRangeError(
        absl::StrCat("snapshot at ", index, " is past the last index ", LastIndex()));
  }
  absl::StatusOr<Term> term = TermAt(index);
  if (!term.ok()) return term.status();
  Snapshot snapshot;
  snapshot.set_data(std::move(data));
  snapshot.mutable_metadata()->set_index(index);
  snapshot.mutable_metadata()->set_term(*term);
  *snapshot.mutable_metadata()->mutable_conf_state() = conf_state;
  snapshot_ = snapshot;
  return snapshot;
}

absl::Status MemoryLogStorage::Compact(LogIndex index) {
  if (index <= compacted_index_) {
    return absl::FailedPreconditionError(absl::StrCat("index ", index, " is already compacted"));
  }
  if (index > snapshot_.metadata().index()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "compaction to ", index, " passes the snapshot at ", snapshot_.metadata().index()));
  }
  absl::StatusOr<Term> term = TermAt(index);
  if (!term.ok()) return term.status();
  const LogIndex drop = index - compacted_index_;
  entries_.erase(entries_.begin(), entries_.begin() + drop);
  compacted_index_ = index;
  compacted_term_ = *term;
  return absl::OkStatus();
}

}  // namespace synod::raft
