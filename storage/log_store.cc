#include "storage/log_store.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace synod::storage {
namespace {

[[noreturn]] void Fatal(const absl::Status& status, const char* what) {
  std::fprintf(stderr, "FATAL: LogStore: %s: %s\n", what, status.ToString().c_str());
  std::fflush(stderr);
  std::abort();
}

bool SameHardState(const raft::HardState& a, const raft::HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}

template <typename Message>
absl::Status Parse(std::string_view body, Message* out, const RecordLocation& at,
                   const char* what) {
  if (!out->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::DataLossError(absl::StrCat("log segment ", at.segment, " offset ", at.offset,
                                            ": unparsable ", what));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogStore>> LogStore::Open(const Options& options) {
  std::unique_ptr<LogStore> store(new LogStore(options));
  LogSegments::Options seg_options;
  seg_options.dir = options.dir;
  seg_options.segment_bytes = options.segment_bytes;
  seg_options.io = options.io;
  seg_options.background_spare = options.background_spare;
  LogStore* self = store.get();
  {
    // Replay runs on this thread, inside LogSegments::Open.
    absl::MutexLock lock(&self->mu_);
    absl::StatusOr<std::unique_ptr<LogSegments>> segments = LogSegments::Open(
        seg_options,
        [self](RecordType type, std::string_view body, const RecordLocation& at)
            ABSL_NO_THREAD_SAFETY_ANALYSIS { return self->Replay(type, body, at); });
    if (!segments.ok()) return segments.status();
    self->segments_ = *std::move(segments);
    if (absl::Status s = self->Verify(); !s.ok()) return s;
    // The commit index was written lazily (Save); the snapshot was taken of
    // applied, hence committed, entries.
    if (self->has_hard_state_ &&
        self->hard_state_.commit() < self->snapshot_.metadata().index()) {
      self->hard_state_.set_commit(self->snapshot_.metadata().index());
    }
  }
  return store;
}

absl::Status LogStore::Replay(RecordType type, std::string_view body, const RecordLocation& at) {
  switch (type) {
    case RecordType::kEntry: {
      raft::Entry entry;
      if (absl::Status s = Parse(body, &entry, at, "entry"); !s.ok()) return s;
      const raft::LogIndex index = entry.index();
      if (index <= snapshot_.metadata().index()) {
        return absl::DataLossError(absl::StrCat("log entry ", index, " is at or below the snapshot ",
                                                snapshot_.metadata().index()));
      }
      if (index > last_index_ + 1) {
        // Entries before it were in segments deleted after a snapshot
        // covered them; a snapshot-base record further on must close the
        // gap (Verify checks).
        ResetTo(index - 1, 0);
      } else if (index <= last_index_) {
        // A conflicting tail (§5.3): this entry replaces it.
        if (index >= locs_first_) {
          locs_.resize(index - locs_first_);
        } else {
          locs_.clear();
        }
        while (!cache_.empty() && cache_.back().entry.index() >= index) {
          cache_memory_ -= cache_.back().memory;
          cache_.pop_back();
        }
      }
      raft::Term prev_term = 0;
      if (index - 1 == snapshot_.metadata().index()) {
        prev_term = snapshot_.metadata().term();
      } else if (!cache_.empty() && cache_.back().entry.index() == index - 1) {
        prev_term = cache_.back().entry.term();
      }
      if (entry.term() < prev_term) {
        return absl::DataLossError(absl::StrCat("log entry ", index, " has term ", entry.term(),
                                                " below its predecessor's ", prev_term));
      }
      AppendLocation(index, at);
      std::vector<raft::Entry> one;
      one.push_back(std::move(entry));
      CacheAppend(std::move(one));
      raft::LogIndex& seg_last = segment_last_[at.segment];
      seg_last = std::max(seg_last, index);
      return absl::OkStatus();
    }
    case RecordType::kHardState:
      has_hard_state_ = true;
      if (absl::Status s = Parse(body, &hard_state_, at, "hard state"); !s.ok()) return s;
      written_hard_state_ = hard_state_;
      return absl::OkStatus();
    case RecordType::kSnapshotReset: {
      raft::Snapshot snapshot;
      if (absl::Status s = Parse(body, &snapshot, at, "snapshot"); !s.ok()) return s;
      snapshot_ = std::move(snapshot);
      has_snapshot_ = true;
      ResetTo(snapshot_.metadata().index(), snapshot_.metadata().term());
      return absl::OkStatus();
    }
    case RecordType::kSnapshotBase: {
      raft::Snapshot snapshot;
      if (absl::Status s = Parse(body, &snapshot, at, "snapshot"); !s.ok()) return s;
      if (has_snapshot_ && snapshot.metadata().index() <= snapshot_.metadata().index()) {
        return absl::OkStatus();  // a segment's head repeating what is known
      }
      snapshot_ = std::move(snapshot);
      has_snapshot_ = true;
      DropThrough(snapshot_.metadata().index());
      return absl::OkStatus();
    }
  }
  return absl::DataLossError(absl::StrCat("log record of unknown type ", static_cast<int>(type)));
}

absl::Status LogStore::Verify() const {
  const raft::LogIndex snap_index = snapshot_.metadata().index();
  if (!locs_.empty() && locs_first_ != snap_index + 1) {
    return absl::DataLossError(absl::StrCat("hole in the log: entry ", locs_first_,
                                            " follows the snapshot at ", snap_index));
  }
  if (last_index_ < snap_index) {
    return absl::DataLossError(
        absl::StrCat("log ends at ", last_index_, ", before its snapshot at ", snap_index));
  }
  if (hard_state_.commit() > last_index_) {
    return absl::DataLossError(absl::StrCat("commit index ", hard_state_.commit(),
                                            " is past the end of the log (", last_index_, ")"));
  }
  return absl::OkStatus();
}

bool LogStore::IsEmpty() const {
  absl::MutexLock lock(&mu_);
  return !has_hard_state_ && !has_snapshot_ && last_index_ == 0;
}

absl::Status LogStore::Bootstrap(const raft::ConfState& conf_state, std::string descriptor) {
  if (!IsEmpty()) return absl::FailedPreconditionError("log store is not empty");
  // The same start as raft::MemoryLogStorage::Bootstrap: a snapshot at
  // index 1, term 1 that holds the founding membership (and an empty state),
  // so every founding member starts from an identical log, and a member
  // added later with an empty log is caught up by a snapshot.
  raft::Snapshot snapshot;
  snapshot.mutable_metadata()->set_index(kBootstrapIndex);
  snapshot.mutable_metadata()->set_term(1);
  *snapshot.mutable_metadata()->mutable_conf_state() = conf_state;
  snapshot.set_data(std::move(descriptor));
  raft::HardState hard_state;
  hard_state.set_term(1);
  hard_state.set_commit(kBootstrapIndex);
  Save(snapshot, {}, hard_state, /*sync=*/true);
  return absl::OkStatus();
}

void LogStore::Save(const raft::Ready& ready) {
  Save(ready.snapshot, ready.entries, ready.hard_state, ready.must_sync);
}

void LogStore::Save(raft::Ready* ready) {
  Save(ready->snapshot, std::move(ready->entries), ready->hard_state, ready->must_sync);
  ready->entries.clear();
}

RecordLocation LogStore::WriteBatch(RecordBatch* batch, bool sync) {
  if (!segments_->Fits(batch->bytes())) {
    // The new segment starts with everything a replay from it needs.
    RecordBatch head;
    {
      absl::MutexLock lock(&mu_);
      if (has_snapshot_) head.Add(RecordType::kSnapshotBase, snapshot_);
      if (has_hard_state_) head.Add(RecordType::kHardState, hard_state_);
    }
    const size_t shift = head.Append(*batch);
    segments_->Rotate(head.bytes());
    RecordLocation at = segments_->Write(&head, sync);
    at.offset += static_cast<uint32_t>(shift);
    return at;
  }
  return segments_->Write(batch, sync);
}

void LogStore::Save(const std::optional<raft::Snapshot>& snapshot, std::vector<raft::Entry> entries,
                    const std::optional<raft::HardState>& hard_state, bool sync) {
  if (!snapshot.has_value() && entries.empty() && !hard_state.has_value()) return;
  if (!sync && !snapshot.has_value() && entries.empty()) {
    // Only the commit index moved (the core asks for a sync when the term,
    // the vote or a committed membership change must survive a crash). The
    // commit index is volatile state (Raft, dissertation Figure 3.1): a
    // restarted replica learns it again from the leader, and Open never
    // reports it below the snapshot. Writing it would cost a write on the
    // path of every commit; it goes out with the next entries instead.
    absl::MutexLock lock(&mu_);
    hard_state_ = *hard_state;
    has_hard_state_ = true;
    return;
  }
  raft::LogIndex last_index;
  {
    absl::MutexLock lock(&mu_);
    last_index = last_index_;
  }
  if (snapshot.has_value()) last_index = snapshot->metadata().index();
  if (!entries.empty() && entries.front().index() > last_index + 1) {
    Fatal(absl::InternalError(absl::StrCat("append at ", entries.front().index(),
                                           " leaves a hole after ", last_index)),
          "append");
  }

  RecordBatch batch;
  if (snapshot.has_value()) batch.Add(RecordType::kSnapshotReset, *snapshot);
  std::vector<size_t> starts;
  starts.reserve(entries.size());
  for (const raft::Entry& e : entries) starts.push_back(batch.Add(RecordType::kEntry, e));
  if (hard_state.has_value()) {
    batch.Add(RecordType::kHardState, *hard_state);
  } else {
    absl::MutexLock lock(&mu_);
    if (has_hard_state_ && !SameHardState(hard_state_, written_hard_state_)) {
      batch.Add(RecordType::kHardState, hard_state_);  // a commit index kept back
    }
  }
  const RecordLocation at = WriteBatch(&batch, sync || snapshot.has_value());

  if (!entries.empty()) {
    raft::LogIndex& seg_last = segment_last_[at.segment];
    seg_last = std::max(seg_last, entries.back().index());
  }
  absl::MutexLock lock(&mu_);
  if (snapshot.has_value()) {
    snapshot_ = *snapshot;
    has_snapshot_ = true;
    ResetTo(snapshot->metadata().index(), snapshot->metadata().term());
  }
  if (!entries.empty()) {
    const raft::LogIndex first = entries.front().index();
    if (first <= last_index_) locs_.resize(first > locs_first_ ? first - locs_first_ : 0);
    for (size_t i = 0; i < entries.size(); ++i) {
      // RecordBatch::Add computed each entry's size (cached in the message).
      const auto size = static_cast<uint32_t>(entries[i].GetCachedSize());
      AppendLocation(entries[i].index(),
                     RecordLocation{at.segment, static_cast<uint32_t>(at.offset + starts[i]), size});
    }
    CacheAppend(std::move(entries));
  }
  if (hard_state.has_value()) {
    hard_state_ = *hard_state;
    has_hard_state_ = true;
  }
  written_hard_state_ = hard_state_;
}

void LogStore::AppendLocation(raft::LogIndex index, const RecordLocation& at) {
  if (locs_.empty()) locs_first_ = index;
  locs_.push_back(at);
}

void LogStore::ResetTo(raft::LogIndex index, raft::Term term) {
  locs_.clear();
  locs_first_ = index + 1;
  cache_.clear();
  cache_memory_ = 0;
  last_index_ = index;
  last_term_ = term;
}

void LogStore::DropThrough(raft::LogIndex index) {
  if (index >= last_index_) {
    ResetTo(index, snapshot_.metadata().term());
    return;
  }
  if (index >= locs_first_) {
    locs_.erase(locs_.begin(), locs_.begin() + static_cast<ptrdiff_t>(index + 1 - locs_first_));
    locs_first_ = index + 1;
  }
  while (!cache_.empty() && cache_.front().entry.index() <= index) {
    cache_memory_ -= cache_.front().memory;
    cache_.pop_front();
  }
}

void LogStore::CacheAppend(std::vector<raft::Entry>&& entries) {
  const raft::LogIndex first = entries.front().index();
  while (!cache_.empty() && cache_.back().entry.index() >= first) {
    cache_memory_ -= cache_.back().memory;
    cache_.pop_back();
  }
  // Keep the cache a contiguous suffix: if a truncation reached below it,
  // it is now empty and restarts with these entries.
  last_index_ = entries.back().index();
  last_term_ = entries.back().term();
  for (raft::Entry& e : entries) CachePush(std::move(e));
  CacheTrim();
}

size_t LogStore::CachedMemory(const raft::Entry& entry) {
  // The entry's payload lives in its own heap block; the message, its
  // bookkeeping and the deque slot are sizeof(Cached), its location another
  // deque slot. Other fields are integers inside the message.
  return sizeof(Cached) + sizeof(RecordLocation) + entry.data().capacity();
}

void LogStore::CachePush(raft::Entry&& entry) {
  const size_t bytes = entry.ByteSizeLong();
  const size_t memory = CachedMemory(entry);
  cache_.push_back(Cached{std::move(entry), bytes, memory});
  cache_memory_ += memory;
}

void LogStore::CacheTrim() {
  while (cache_.size() > 1 && cache_memory_ > options_.cache_bytes) {
    cache_memory_ -= cache_.front().memory;
    cache_.pop_front();
  }
}

size_t LogStore::cache_memory() const {
  absl::MutexLock lock(&mu_);
  return cache_memory_;
}

absl::Status LogStore::SaveSnapshot(const raft::Snapshot& snapshot) {
  const raft::LogIndex index = snapshot.metadata().index();
  {
    absl::MutexLock lock(&mu_);
    if (index <= snapshot_.metadata().index()) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot at ", index, " is not newer than ", snapshot_.metadata().index()));
    }
    if (index > last_index_) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot at ", index, " is past the log end ", last_index_));
    }
  }
  absl::StatusOr<raft::Term> term = TermAt(index);
  if (!term.ok()) return term.status();
  if (*term != snapshot.metadata().term()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot at ", index, " has term ", snapshot.metadata().term(), ", log has ", *term));
  }
  RecordBatch batch;
  batch.Add(RecordType::kSnapshotBase, snapshot);
  // Synced before any segment goes: a replay from the remaining ones needs
  // this record to close the gap the deleted entries leave.
  WriteBatch(&batch, /*sync=*/true);
  {
    absl::MutexLock lock(&mu_);
    snapshot_ = snapshot;
    has_snapshot_ = true;
    DropThrough(index);
  }
  // Delete the oldest segments while every entry they hold is covered.
  uint32_t keep_from = segments_->current_segment();
  for (const auto& [segment, last] : segment_last_) {
    if (last > index) {
      keep_from = std::min(keep_from, segment);
      break;
    }
  }
  segments_->DeleteBefore(keep_from);
  segment_last_.erase(segment_last_.begin(), segment_last_.lower_bound(keep_from));
  return absl::OkStatus();
}

absl::StatusOr<raft::InitialState> LogStore::GetInitialState() const {
  absl::MutexLock lock(&mu_);
  raft::InitialState state;
  state.hard_state = hard_state_;
  state.conf_state = snapshot_.metadata().conf_state();
  return state;
}

absl::StatusOr<std::vector<raft::Entry>> LogStore::Entries(raft::LogIndex lo, raft::LogIndex hi,
                                                           uint64_t max_bytes) const {
  std::vector<raft::Entry> out;
  {
    absl::MutexLock lock(&mu_);
    if (lo <= snapshot_.metadata().index()) {
      return absl::OutOfRangeError(absl::StrCat("entry ", lo, " is compacted"));
    }
    if (hi > last_index_ + 1) {
      return absl::NotFoundError(
          absl::StrCat("entries up to ", hi - 1, " requested; log ends at ", last_index_));
    }
    if (lo >= hi) return out;
    const raft::LogIndex cache_first =
        cache_.empty() ? last_index_ + 1 : cache_.front().entry.index();
    if (lo >= cache_first) {
      uint64_t bytes = 0;
      for (size_t i = lo - cache_first; i < cache_.size() && cache_[i].entry.index() < hi; ++i) {
        bytes += cache_[i].bytes;
        if (!out.empty() && bytes > max_bytes) break;
        out.push_back(cache_[i].entry);
      }
      return out;
    }
  }
  // Older than the cache: read the files (outside the lock).
  return ReadEntries(lo, hi, max_bytes);
}

absl::StatusOr<std::vector<raft::Entry>> LogStore::ReadEntries(raft::LogIndex lo, raft::LogIndex hi,
                                                               uint64_t max_bytes) const {
  std::vector<RecordLocation> where;
  {
    absl::MutexLock lock(&mu_);
    if (lo < locs_first_) {
      return absl::OutOfRangeError(absl::StrCat("entry ", lo, " is compacted"));
    }
    hi = std::min(hi, last_index_ + 1);
    uint64_t bytes = 0;
    for (raft::LogIndex i = lo; i < hi; ++i) {
      const RecordLocation& at = locs_[i - locs_first_];
      bytes += at.size;
      if (!where.empty() && bytes > max_bytes) break;
      where.push_back(at);
    }
  }
  std::vector<raft::Entry> out;
  out.reserve(where.size());
  for (const RecordLocation& at : where) {
    absl::StatusOr<std::string> body = segments_->Read(at, RecordType::kEntry);
    if (!body.ok()) {
      absl::MutexLock lock(&mu_);
      if (lo <= snapshot_.metadata().index()) {
        // Compacted under us (a snapshot landed meanwhile).
        return absl::OutOfRangeError(absl::StrCat("entry ", lo, " is compacted"));
      }
      return body.status();
    }
    raft::Entry& entry = out.emplace_back();
    if (absl::Status s = Parse(*body, &entry, at, "entry"); !s.ok()) return s;
    const raft::LogIndex expect = lo + out.size() - 1;
    if (entry.index() != expect) {
      return absl::DataLossError(absl::StrCat("log record for entry ", expect, " holds entry ",
                                              entry.index()));
    }
  }
  return out;
}

absl::StatusOr<raft::Term> LogStore::TermAt(raft::LogIndex i) const {
  {
    absl::MutexLock lock(&mu_);
    const raft::LogIndex snap = snapshot_.metadata().index();
    if (i == snap) return snapshot_.metadata().term();
    if (i < snap) return absl::OutOfRangeError(absl::StrCat("term of ", i, " is compacted"));
    if (i > last_index_) {
      return absl::NotFoundError(absl::StrCat("term of ", i, ": log ends at ", last_index_));
    }
    if (i == last_index_) return last_term_;
    if (!cache_.empty() && i >= cache_.front().entry.index()) {
      return cache_[i - cache_.front().entry.index()].entry.term();
    }
  }
  absl::StatusOr<std::vector<raft::Entry>> one = ReadEntries(i, i + 1, 0);
  if (!one.ok()) return one.status();
  return one->front().term();
}

raft::LogIndex LogStore::FirstIndex() const {
  absl::MutexLock lock(&mu_);
  return snapshot_.metadata().index() + 1;
}

raft::LogIndex LogStore::LastIndex() const {
  absl::MutexLock lock(&mu_);
  return last_index_;
}

absl::StatusOr<raft::Snapshot> LogStore::GetSnapshot() const {
  absl::MutexLock lock(&mu_);
  return snapshot_;
}

raft::HardState LogStore::hard_state() const {
  absl::MutexLock lock(&mu_);
  return hard_state_;
}

}  // namespace synod::storage
