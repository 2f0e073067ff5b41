// RaftLog: the node's view of the whole log: the durable part (LogStorage,
// read-only here) followed by the unstable part (UnstableLog), plus the
// commit and applied indexes.
//
// Thread: owned by one RaftImpl, single-threaded.
// Invariants (checked): applied_ <= committed_ <= LastIndex();
//   committed_ never decreases; an entry at or below committed_ is never
//   replaced (Log Matching + Leader Completeness, §3.5/§3.6).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/log_storage.h"
#include "raft/types.h"
#include "raft/unstable_log.h"

namespace synod::raft {

class RaftLog {
 public:
  // Reads the storage's first/last index; applied and committed start at
  // the storage's first index - 1 (its snapshot).
  explicit RaftLog(const LogStorage* storage);
  // Restart: the persisted commit and the driver's applied index (both
  // checked <= LastIndex() by the caller).
  void Init(LogIndex committed, LogIndex applied);

  LogIndex committed() const { return committed_; }
  LogIndex applied() const { return applied_; }
  const UnstableLog& unstable() const { return unstable_; }
  UnstableLog& mutable_unstable() { return unstable_; }

  LogIndex FirstIndex() const;
  LogIndex LastIndex() const;
  Term LastTerm() const;
  // The last index the driver has made durable and that still belongs to
  // this log (0 if an unstable snapshot replaces the durable log).
  LogIndex StableLastIndex() const;
  // OutOfRange if compacted, NotFound if past LastIndex(); fatal otherwise.
  absl::StatusOr<Term> TermAt(LogIndex i) const;
  // Term of i, or 0 if unknown (compacted or past the end).
  Term ZeroTermOnError(LogIndex i) const;
  bool MatchTerm(LogIndex i, Term t) const;
  // §3.6.1: a log is at least as up-to-date as ours if its last term is
  // higher, or equal with an index at least as high.
  bool IsUpToDate(LogIndex last_index, Term last_term) const;

  // Follower side of AppendEntries (§3.5): if the entry at `index` has term
  // `log_term`, appends `entries` after it (replacing a conflicting tail),
  // advances commit to min(commit, last new index) and returns that last new
  // index; otherwise returns nullopt (reject). Moves out of `entries`.
  std::optional<LogIndex> MaybeAppend(LogIndex index, Term log_term, LogIndex commit,
                                      std::vector<Entry>* entries);
  // Appends entries after the current last index (leader side); returns the
  // new last index.
  LogIndex Append(std::vector<Entry>&& entries);
  void AppendOne(Entry&& entry);
  // Index of the first entry in `entries` that is not in the log with the
  // same term, or 0 if all are present.
  LogIndex FindConflict(const std::vector<Entry>& entries) const;
  // Fast back-off (§3.5 "the follower can include the term of the
  // conflicting entry"): the largest index <= index whose term is <= term,
  // with its term. Used on both sides of a rejected AppendEntries.
  std::pair<LogIndex, Term> FindConflictByTerm(LogIndex index, Term term) const;

  // Entries in [lo, hi) up to max_bytes (at least one). OutOfRange if lo is
  // compacted.
  absl::StatusOr<std::vector<Entry>> Slice(LogIndex lo, LogIndex hi, uint64_t max_bytes) const;
  // Entries from i to the end, up to max_bytes.
  absl::StatusOr<std::vector<Entry>> EntriesFrom(LogIndex i, uint64_t max_bytes) const;

  // Committed entries not yet handed out for applying (none while an
  // unstable snapshot awaits installation).
  bool HasNextCommittedEntries() const;
  std::vector<Entry> NextCommittedEntries(uint64_t max_bytes) const;
  // Entries up to `index` were handed to the driver (in a Ready); they are
  // applied once it calls Advance.
  void AcceptApplying(LogIndex index) { applying_ = index; }
  LogIndex applying() const { return applying_; }

  // Advances commit to `index` if its entry has term `term` (§3.6.2: a
  // leader only commits by counting replicas for entries of its own term).
  bool MaybeCommit(LogIndex index, Term term);
  void CommitTo(LogIndex index);
  void AppliedTo(LogIndex index);
  void StableTo(LogIndex index, Term term) { unstable_.StableTo(index, term); }
  void StableSnapTo(LogIndex index) { unstable_.StableSnapTo(index); }
  // Installs a snapshot from the leader: the log becomes the snapshot.
  void Restore(Snapshot snapshot);
  // The most recent snapshot (unstable first, then storage).
  absl::StatusOr<Snapshot> GetSnapshot() const;

  // True once if the commit index moved past a membership change entry
  // since the last call. The hard state carrying that commit index must be
  // synced: a node acts on a committed membership change (applies it, and
  // a removed node may be shut down), and forgetting after a crash that it
  // was committed could leave the remaining voters needing a vote from a
  // node that is gone.
  bool TakeConfChangeCommitted();
  // The same, without consuming it.
  bool conf_change_committed() const { return conf_change_committed_; }

 private:
  void CheckTermsDontDecrease(const std::vector<Entry>& entries) const;
  // Keeps conf_indexes_ in step with entries appended from `entries`
  // (replacing everything from entries.front().index() on).
  void NoteAppended(const std::vector<Entry>& entries);

  const LogStorage* storage_;
  UnstableLog unstable_;
  LogIndex committed_ = 0;
  LogIndex applied_ = 0;
  // Highest index handed out for applying; applied_ <= applying_ <= committed_.
  LogIndex applying_ = 0;
  // Indexes of the membership change entries above committed_, ascending.
  std::deque<LogIndex> conf_indexes_;
  bool conf_change_committed_ = false;
};

}  // namespace synod::raft
