#include "raft/unstable_log.h"

#include <utility>

#include "base/check.h"

namespace synod::raft {

std::optional<LogIndex> UnstableLog::MaybeFirstIndex() const {
  if (snapshot_) return snapshot_->metadata().index() + 1;
  return std::nullopt;
}

std::optional<LogIndex> UnstableLog::MaybeLastIndex() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->metadata().index();
  return std::nullopt;
}

std::optional<Term> UnstableLog::MaybeTerm(LogIndex i) const {
  if (i < offset_) {
    if (snapshot_ && snapshot_->metadata().index() == i) return snapshot_->metadata().term();
    return std::nullopt;
  }
  if (i - offset_ >= entries_.size()) return std::nullopt;
  return entries_[i - offset_].term();
}

void UnstableLog::Append(Entry&& entry) {
  SYNOD_DCHECK(entry.index() == offset_ + entries_.size())
      << "unstable append at " << entry.index() << " expected " << offset_ + entries_.size();
  entries_.push_back(std::move(entry));
}

void UnstableLog::TruncateAndAppend(std::vector<Entry>&& entries) {
  if (entries.empty()) return;
  const LogIndex after = entries.front().index();
  if (after == offset_ + entries_.size()) {
    // Directly after the current tail: the common case.
  } else if (after <= offset_) {
    // Replaces every unstable entry, and maybe stable ones: the storage will
    // be overwritten from `after` on when the driver writes these.
    offset_ = after;
    entries_.clear();
    in_progress_ = 0;
  } else {
    SYNOD_CHECK(after < offset_ + entries_.size())
        << "unstable append at " << after << " leaves a gap after " << offset_ + entries_.size();
    entries_.resize(after - offset_);
    if (in_progress_ > entries_.size()) in_progress_ = entries_.size();
  }
  for (Entry& e : entries) entries_.push_back(std::move(e));
}

void UnstableLog::Slice(LogIndex lo, LogIndex hi, uint64_t max_bytes, std::vector<Entry>* out,
                        uint64_t* bytes) const {
  SYNOD_CHECK(lo >= offset_ && hi <= offset_ + entries_.size() && lo <= hi)
      << "unstable slice [" << lo << "," << hi << ") out of [" << offset_ << ","
      << offset_ + entries_.size() << ")";
  for (LogIndex i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - offset_];
    uint64_t next = *bytes + EntryBytes(e);
    if (!out->empty() && next > max_bytes) return;
    *bytes = next;
    out->push_back(e);
  }
}

void UnstableLog::Restore(Snapshot snapshot) {
  offset_ = snapshot.metadata().index() + 1;
  entries_.clear();
  in_progress_ = 0;
  snapshot_ = std::move(snapshot);
  snapshot_in_progress_ = false;
}

std::vector<Entry> UnstableLog::TakePendingEntries() {
  std::vector<Entry> out(entries_.begin() + in_progress_, entries_.end());
  in_progress_ = entries_.size();
  return out;
}

std::optional<Snapshot> UnstableLog::TakePendingSnapshot() {
  if (!HasPendingSnapshot()) return std::nullopt;
  snapshot_in_progress_ = true;
  return snapshot_;
}

void UnstableLog::StableTo(LogIndex index, Term term) {
  std::optional<Term> t = MaybeTerm(index);
  if (!t || *t != term || index < offset_) return;  // replaced or already stable
  const size_t n = index + 1 - offset_;
  entries_.erase(entries_.begin(), entries_.begin() + n);
  in_progress_ = in_progress_ > n ? in_progress_ - n : 0;
  offset_ = index + 1;
}

void UnstableLog::StableSnapTo(LogIndex index) {
  if (snapshot_ && snapshot_->metadata().index() == index) {
    snapshot_.reset();
    snapshot_in_progress_ = false;
  }
}

}  // namespace synod::raft
