#include "raft/raft_log.h"

#include <algorithm>
#include <utility>

#include "base/check.h"

namespace synod::raft {
namespace {

// The storage may only fail in the two ways the LogStorage contract names;
// anything else means the disk failed and the core cannot go on.
void CheckStorageError(const absl::Status& s) {
  SYNOD_CHECK(absl::IsOutOfRange(s) || absl::IsNotFound(s)) << "log storage failed: " << s;
}

}  // namespace

RaftLog::RaftLog(const LogStorage* storage)
    : storage_(storage), unstable_(storage->LastIndex() + 1) {
  committed_ = storage->FirstIndex() - 1;
  applied_ = committed_;
  applying_ = committed_;
}

void RaftLog::Init(LogIndex committed, LogIndex applied) {
  // An applied entry was committed, even if the commit index written with
  // the hard state (unsynced when only it changed) did not survive a crash.
  committed_ = std::max({committed_, committed, applied});
  SYNOD_CHECK(committed_ <= LastIndex())
      << "commit " << committed_ << " is past the last index " << LastIndex();
  if (applied > applied_) {
    applied_ = applied;
    applying_ = applied;
  }
  // Membership changes in the uncommitted durable tail.
  if (committed_ < LastIndex()) {
    absl::StatusOr<std::vector<Entry>> tail = Slice(committed_ + 1, LastIndex() + 1, UINT64_MAX);
    SYNOD_CHECK(tail.ok()) << "uncommitted tail unreadable: " << tail.status();
    NoteAppended(*tail);
  }
}

void RaftLog::NoteAppended(const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  const LogIndex first = entries.front().index();
  while (!conf_indexes_.empty() && conf_indexes_.back() >= first) conf_indexes_.pop_back();
  for (const Entry& e : entries) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) conf_indexes_.push_back(e.index());
  }
}

void RaftLog::AppendOne(Entry&& entry) {
  if (entry.type() == raftpb::ENTRY_CONF_CHANGE) conf_indexes_.push_back(entry.index());
  unstable_.Append(std::move(entry));
}

bool RaftLog::TakeConfChangeCommitted() {
  const bool committed = conf_change_committed_;
  conf_change_committed_ = false;
  return committed;
}

LogIndex RaftLog::FirstIndex() const {
  if (std::optional<LogIndex> i = unstable_.MaybeFirstIndex()) return *i;
  return storage_->FirstIndex();
}

LogIndex RaftLog::LastIndex() const {
  if (std::optional<LogIndex> i = unstable_.MaybeLastIndex()) return *i;
  return storage_->LastIndex();
}

Term RaftLog::LastTerm() const {
  absl::StatusOr<Term> t = TermAt(LastIndex());
  SYNOD_CHECK(t.ok()) << "term of the last entry unknown: " << t.status();
  return *t;
}

LogIndex RaftLog::StableLastIndex() const {
  if (unstable_.snapshot()) return 0;
  return unstable_.offset() - 1;
}

absl::StatusOr<Term> RaftLog::TermAt(LogIndex i) const {
  if (std::optional<Term> t = unstable_.MaybeTerm(i)) return *t;
  if (i >= unstable_.offset()) {
    return absl::NotFoundError("index past the last entry");
  }
  if (unstable_.snapshot()) {
    // The durable log below a snapshot being installed is obsolete.
    return absl::OutOfRangeError("index is covered by the snapshot being installed");
  }
  absl::StatusOr<Term> t = storage_->TermAt(i);
  if (!t.ok()) CheckStorageError(t.status());
  return t;
}

Term RaftLog::ZeroTermOnError(LogIndex i) const {
  absl::StatusOr<Term> t = TermAt(i);
  return t.ok() ? *t : 0;
}

bool RaftLog::MatchTerm(LogIndex i, Term t) const {
  absl::StatusOr<Term> term = TermAt(i);
  return term.ok() && *term == t;
}

bool RaftLog::IsUpToDate(LogIndex last_index, Term last_term) const {
  const Term our = LastTerm();
  return last_term > our || (last_term == our && last_index >= LastIndex());
}

std::optional<LogIndex> RaftLog::MaybeAppend(LogIndex index, Term log_term, LogIndex commit,
                                             std::vector<Entry>* entries) {
  if (!MatchTerm(index, log_term)) return std::nullopt;
  const LogIndex last_new = index + entries->size();
  const LogIndex conflict = FindConflict(*entries);
  if (conflict != 0) {
    SYNOD_CHECK(conflict > committed_)
        << "entry " << conflict << " conflicts with the committed prefix (commit " << committed_
        << ")";
    entries->erase(entries->begin(), entries->begin() + (conflict - index - 1));
    CheckTermsDontDecrease(*entries);
    NoteAppended(*entries);
    unstable_.TruncateAndAppend(std::move(*entries));
  }
  CommitTo(std::min(commit, last_new));
  return last_new;
}

void RaftLog::CheckTermsDontDecrease(const std::vector<Entry>& entries) const {
#if SYNOD_DCHECK_IS_ON
  // Log terms never decrease along the log (entries of a term are appended
  // by that term's leader after everything it inherited).
  if (entries.empty()) return;
  Term prev = ZeroTermOnError(entries.front().index() - 1);
  for (const Entry& e : entries) {
    SYNOD_DCHECK(e.term() >= prev)
        << "entry " << e.index() << " has term " << e.term() << " after term " << prev;
    prev = e.term();
  }
#else
  (void)entries;
#endif
}

LogIndex RaftLog::Append(std::vector<Entry>&& entries) {
  if (entries.empty()) return LastIndex();
  CheckTermsDontDecrease(entries);
  SYNOD_CHECK(entries.front().index() > committed_)
      << "append at " << entries.front().index() << " would overwrite committed " << committed_;
  NoteAppended(entries);
  unstable_.TruncateAndAppend(std::move(entries));
  return LastIndex();
}

LogIndex RaftLog::FindConflict(const std::vector<Entry>& entries) const {
  for (const Entry& e : entries) {
    if (!MatchTerm(e.index(), e.term())) return e.index();
  }
  return 0;
}

std::pair<LogIndex, Term> RaftLog::FindConflictByTerm(LogIndex index, Term term) const {
  if (index > LastIndex()) return {index, 0};
  for (LogIndex i = index;; --i) {
    absl::StatusOr<Term> t = TermAt(i);
    if (!t.ok()) return {i, 0};
    if (*t <= term || i == 0) return {i, *t};
  }
}

absl::StatusOr<std::vector<Entry>> RaftLog::Slice(LogIndex lo, LogIndex hi,
                                                  uint64_t max_bytes) const {
  if (lo < FirstIndex()) return absl::OutOfRangeError("slice start is compacted");
  SYNOD_CHECK(lo <= hi && hi <= LastIndex() + 1)
      << "slice [" << lo << "," << hi << ") out of the log ending at " << LastIndex();
  std::vector<Entry> out;
  if (lo == hi) return out;
  uint64_t bytes = 0;
  const LogIndex offset = unstable_.offset();
  if (lo < offset) {
    absl::StatusOr<std::vector<Entry>> stored =
        storage_->Entries(lo, std::min(hi, offset), max_bytes);
    if (!stored.ok()) {
      CheckStorageError(stored.status());
      SYNOD_CHECK(absl::IsOutOfRange(stored.status()))
          << "storage lost entries [" << lo << "," << std::min(hi, offset)
          << "): " << stored.status();
      return stored.status();
    }
    out = std::move(*stored);
    if (out.size() < std::min(hi, offset) - lo) return out;  // size limit reached
    for (const Entry& e : out) bytes += EntryBytes(e);
  }
  if (hi > offset) unstable_.Slice(std::max(lo, offset), hi, max_bytes, &out, &bytes);
  return out;
}

absl::StatusOr<std::vector<Entry>> RaftLog::EntriesFrom(LogIndex i, uint64_t max_bytes) const {
  if (i > LastIndex()) return std::vector<Entry>();
  return Slice(i, LastIndex() + 1, max_bytes);
}

bool RaftLog::HasNextCommittedEntries() const {
  if (unstable_.snapshot()) return false;
  return committed_ > std::max(applying_, FirstIndex() - 1);
}

std::vector<Entry> RaftLog::NextCommittedEntries(uint64_t max_bytes) const {
  if (!HasNextCommittedEntries()) return {};
  const LogIndex lo = std::max(applying_ + 1, FirstIndex());
  absl::StatusOr<std::vector<Entry>> ents =
      Slice(lo, committed_ + 1, max_bytes == 0 ? UINT64_MAX : max_bytes);
  SYNOD_CHECK(ents.ok()) << "committed entries from " << lo << " unavailable: " << ents.status();
  return std::move(*ents);
}

bool RaftLog::MaybeCommit(LogIndex index, Term term) {
  if (index > committed_ && ZeroTermOnError(index) == term) {
    CommitTo(index);
    return true;
  }
  return false;
}

void RaftLog::CommitTo(LogIndex index) {
  if (index <= committed_) return;  // commit never moves back
  SYNOD_CHECK(index <= LastIndex()) << "commit " << index << " is past the last index "
                                    << LastIndex() << "; was the log lost or corrupted?";
  committed_ = index;
  while (!conf_indexes_.empty() && conf_indexes_.front() <= index) {
    conf_indexes_.pop_front();
    conf_change_committed_ = true;
  }
}

void RaftLog::AppliedTo(LogIndex index) {
  if (index == 0) return;
  SYNOD_CHECK(index <= committed_ && index >= applied_)
      << "applied " << index << " outside [" << applied_ << "," << committed_ << "]";
  applied_ = index;
  applying_ = std::max(applying_, index);
}

void RaftLog::Restore(Snapshot snapshot) {
  const LogIndex index = snapshot.metadata().index();
  SYNOD_DCHECK(index > committed_) << "restoring snapshot " << index << " at commit " << committed_;
  committed_ = index;
  applying_ = std::max(applying_, index);
  // The snapshot carries the membership it covers; nothing above it is
  // known any more.
  conf_indexes_.clear();
  unstable_.Restore(std::move(snapshot));
}

absl::StatusOr<Snapshot> RaftLog::GetSnapshot() const {
  if (unstable_.snapshot()) return *unstable_.snapshot();
  return storage_->GetSnapshot();
}

}  // namespace synod::raft
