#include "tests/sim/durable_log.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace synod::sim {

using raft::Entry;
using raft::LogIndex;
using raft::Term;

absl::StatusOr<raft::InitialState> DurableLog::GetInitialState() const {
  raft::InitialState state;
  state.hard_state = hard_state_;
  state.conf_state = snapshot_.metadata().conf_state();
  return state;
}

absl::StatusOr<std::vector<Entry>> DurableLog::Entries(LogIndex lo, LogIndex hi,
                                                       uint64_t max_bytes) const {
  if (lo <= offset_) {
    return absl::OutOfRangeError(
        absl::StrCat("entry ", lo, " is compacted (first ", offset_ + 1, ")"));
  }
  if (hi > LastIndex() + 1) {
    return absl::NotFoundError(
        absl::StrCat("entries up to ", hi, " requested, last ", LastIndex()));
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (LogIndex i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - offset_ - 1];
    bytes += e.ByteSizeLong();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<Term> DurableLog::TermAt(LogIndex i) const {
  if (i < offset_) {
    return absl::OutOfRangeError(
        absl::StrCat("term of ", i, " is compacted (first ", offset_ + 1, ")"));
  }
  if (i == offset_) return offset_term_;
  if (i > LastIndex()) {
    return absl::NotFoundError(absl::StrCat("term of ", i, " requested, last ", LastIndex()));
  }
  return entries_[i - offset_ - 1].term();
}

absl::StatusOr<raft::Snapshot> DurableLog::GetSnapshot() const {
  if (snapshot_unavailable_) return absl::UnavailableError("snapshot is being produced");
  return snapshot_;
}

absl::Status DurableLog::ApplySnapshot(const raft::Snapshot& snapshot) {
  const raft::SnapshotMetadata& m = snapshot.metadata();
  if (m.index() <= snapshot_.metadata().index()) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot at ", m.index(),
                                                      " is not newer than the stored one at ",
                                                      snapshot_.metadata().index()));
  }
  if (m.index() < hard_state_.commit()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot at ", m.index(), " would drop entries up to commit ", hard_state_.commit()));
  }
  snapshot_ = snapshot;
  offset_ = m.index();
  offset_term_ = m.term();
  entries_.clear();
  return absl::OkStatus();
}

absl::Status DurableLog::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  const LogIndex first = entries.front().index();
  if (first > LastIndex() + 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("append at ", first, " leaves a gap after last ", LastIndex()));
  }
  for (size_t k = 1; k < entries.size(); ++k) {
    if (entries[k].index() != first + k) {
      return absl::FailedPreconditionError(
          absl::StrCat("appended entries are not contiguous at ", entries[k].index()));
    }
  }
  // Entries already covered by the snapshot are committed; skip them.
  size_t skip = 0;
  while (skip < entries.size() && entries[skip].index() <= offset_) ++skip;
  if (skip == entries.size()) return absl::OkStatus();
  const LogIndex from = entries[skip].index();
  for (LogIndex i = from; i <= LastIndex() && i <= hard_state_.commit(); ++i) {
    const Entry& old = entries_[i - offset_ - 1];
    const Entry& neu = entries[skip + (i - from)];
    if (old.term() != neu.term()) {
      return absl::FailedPreconditionError(absl::StrCat("append rewrites committed entry ", i,
                                                        " (term ", old.term(), " -> ", neu.term(),
                                                        ", commit ", hard_state_.commit(), ")"));
    }
  }
  entries_.resize(from - offset_ - 1);
  entries_.insert(entries_.end(), entries.begin() + skip, entries.end());
  return absl::OkStatus();
}

absl::Status DurableLog::CreateSnapshot(LogIndex index, const raft::ConfState& conf_state,
                                        std::string data) {
  if (index <= snapshot_.metadata().index() || index > LastIndex()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot at ", index, " outside (", snapshot_.metadata().index(), ", ", LastIndex(), "]"));
  }
  absl::StatusOr<Term> term = TermAt(index);
  if (!term.ok()) return term.status();
  raft::Snapshot snapshot;
  snapshot.set_data(std::move(data));
  *snapshot.mutable_metadata()->mutable_conf_state() = conf_state;
  snapshot.mutable_metadata()->set_index(index);
  snapshot.mutable_metadata()->set_term(*term);
  snapshot_ = std::move(snapshot);
  return absl::OkStatus();
}

absl::Status DurableLog::Compact(LogIndex index) {
  if (index <= offset_) return absl::OkStatus();
  if (index > snapshot_.metadata().index()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "compaction to ", index, " beyond the snapshot at ", snapshot_.metadata().index()));
  }
  absl::StatusOr<Term> term = TermAt(index);
  if (!term.ok()) return term.status();
  entries_.erase(entries_.begin(), entries_.begin() + (index - offset_));
  offset_ = index;
  offset_term_ = *term;
  return absl::OkStatus();
}

}  // namespace synod::sim
