// LogStore: the replica's durable Raft log and Raft metadata, in segment
// files of its own (LogSegments: pre-zeroed files, checksummed records).
//
// It is the LogStorage the Raft core reads, and the driver's one way to make a
// Ready durable: Save() writes the Ready's snapshot metadata, its entries
// and its hard state as records of ONE write, synced when the Ready says so.
// One fsync per Ready is the group commit of dissertation §10.2.1: every
// proposal that reached the core since the last Ready shares it.
//
// Records (log_segments.h): an entry record replaces the log from its index
// on (a conflicting tail is dropped by the next entry at its index, §5.3); a
// hard-state record replaces the hard state; a snapshot-reset record (an
// installed snapshot) restarts the log after it; a snapshot-base record
// (SaveSnapshot, and the head of every new segment together with the hard
// state) compacts the log up to it. Every segment thus starts with all the
// metadata, so once a snapshot covers all the entries of the oldest
// segments they are deleted whole.
//
// Open replays the records and verifies the log: entry index and term live
// inside each checksummed record, and the log must be contiguous from the
// snapshot with non-decreasing terms and a commit index inside it; else
// DataLoss: it may hold entries this replica acknowledged, so dropping them
// silently could lose committed writes; the operator must rebuild this
// replica from its peers.
//
// Failure policy: a failed write is fatal (the process aborts with a message).
// After a failed fsync the kernel may have dropped the data; continuing could
// acknowledge what was never persisted.
//
// Thread: Save/SaveSnapshot/Bootstrap are called by one writer thread (the
// raft thread); the LogStorage reads may come from any thread. A mutex
// guards the in-memory view; it is not held during file writes, and the
// view changes only after the write succeeded.
//
// Invariants: FirstIndex() == snapshot index + 1; LastIndex() >= snapshot
// index; entries [FirstIndex, LastIndex] are all present, contiguous, with
// non-decreasing terms; the cache holds a suffix of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "raft/log_storage.h"
#include "raft/ready.h"
#include "raft/types.h"
#include "storage/format.h"
#include "storage/log_segments.h"

namespace synod::storage {

class LogStore final : public raft::LogStorage {
 public:
  struct Options {
    // Memory for recent entries kept in memory, counted as what the cache
    // really holds (payload allocation plus per-entry bookkeeping), not the
    // serialized size; at least the last entry is always kept, whatever its
    // size. A follower that is behind by less than this is served without
    // reading the segment files.
    size_t cache_bytes = 16u << 20;
    // Directory of the segment files (required).
    std::string dir;
    // Size of one segment file; the log's disk use is a few of them.
    uint64_t segment_bytes = 16u << 20;
    // As in LogSegments::Options (tests: a faulty disk, one file order).
    FileIO* io = nullptr;
    bool background_spare = true;
  };

  // Loads and verifies the log (checksums, contiguity, terms).
  // Errors: DataLoss (corrupt or inconsistent log), InvalidArgument (no
  // dir), Internal (I/O).
  static absl::StatusOr<std::unique_ptr<LogStore>> Open(const Options& options);

  LogStore(const LogStore&) = delete;
  LogStore& operator=(const LogStore&) = delete;

  // True when nothing was ever written (no hard state, no snapshot, no log).
  bool IsEmpty() const;

  // Makes a fresh store the start of a new cluster: an empty log after a
  // "snapshot" at kBootstrapIndex (term 1) that holds the founding membership
  // and `descriptor`, hard state {term 1, commit kBootstrapIndex}.
  // FailedPrecondition if the store is not empty. Synced.
  absl::Status Bootstrap(const raft::ConfState& conf_state, std::string descriptor);

  // Persists the durable part of `ready` in one write: its snapshot (the
  // log is then reset to start after it), its entries (a tail that
  // conflicts with them is removed) and its hard state. Synced if
  // ready.must_sync or a snapshot is present. A Ready with nothing but a new
  // commit index (must_sync false) is kept in memory and written with the
  // next entries: the commit index is volatile state. Aborts the process on
  // failure.
  void Save(const raft::Ready& ready);
  // The same, but moves ready->entries into the in-memory cache instead of
  // copying them; ready->entries is empty afterwards.
  void Save(raft::Ready* ready);
  void Save(const std::optional<raft::Snapshot>& snapshot, std::vector<raft::Entry> entries,
            const std::optional<raft::HardState>& hard_state, bool sync);

  // Records that a durable state snapshot covering [1, snapshot.index] now
  // exists, and drops the log entries it covers (segments whose entries it
  // all covers are deleted). The log
  // must hold snapshot.metadata.index with snapshot.metadata.term.
  // Errors: FailedPrecondition if the snapshot is older than the current one
  // or not in the log. Aborts the process on a failed write.
  absl::Status SaveSnapshot(const raft::Snapshot& snapshot);

  // raft::LogStorage.
  absl::StatusOr<raft::InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<raft::Entry>> Entries(raft::LogIndex lo, raft::LogIndex hi,
                                                   uint64_t max_bytes) const override;
  absl::StatusOr<raft::Term> TermAt(raft::LogIndex i) const override;
  raft::LogIndex FirstIndex() const override;
  raft::LogIndex LastIndex() const override;
  absl::StatusOr<raft::Snapshot> GetSnapshot() const override;

  raft::HardState hard_state() const;

  // Memory the entry cache holds now, as counted against
  // Options::cache_bytes.
  size_t cache_memory() const;
  // Segment files on disk now (tests, metrics).
  size_t segment_count() const { return segments_->segment_count(); }

 private:
  struct Cached {
    raft::Entry entry;
    size_t bytes = 0;   // serialized size (what Entries' max_bytes limits)
    size_t memory = 0;  // CachedMemory(entry), what the cache bound counts
  };
  static size_t CachedMemory(const raft::Entry& entry);

  explicit LogStore(const Options& options) : options_(options) {}

  // Replays one record (Open).
  absl::Status Replay(RecordType type, std::string_view body, const RecordLocation& at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Verify() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes `batch` and returns where it landed. If it does not fit, a new
  // segment starts, and the batch written there is headed by the current
  // snapshot and hard state (one write all the same).
  RecordLocation WriteBatch(RecordBatch* batch, bool sync);
  // Reads entries [lo, hi) from the files (not the cache), verifying each.
  absl::StatusOr<std::vector<raft::Entry>> ReadEntries(raft::LogIndex lo, raft::LogIndex hi,
                                                       uint64_t max_bytes) const;
  // In-memory view changes (mu_ held).
  void AppendLocation(raft::LogIndex index, const RecordLocation& at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResetTo(raft::LogIndex index, raft::Term term) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropThrough(raft::LogIndex index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CacheAppend(std::vector<raft::Entry>&& entries) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CachePush(raft::Entry&& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CacheTrim() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  std::unique_ptr<LogSegments> segments_;
  // Highest entry index written to each segment (writer thread; Open).
  std::map<uint32_t, raft::LogIndex> segment_last_;

  mutable absl::Mutex mu_;
  raft::HardState hard_state_ ABSL_GUARDED_BY(mu_);
  // The hard state as last written (hard_state_ may hold a newer commit
  // index: Save).
  raft::HardState written_hard_state_ ABSL_GUARDED_BY(mu_);
  raft::Snapshot snapshot_ ABSL_GUARDED_BY(mu_);  // data + metadata of the latest
  bool has_snapshot_ ABSL_GUARDED_BY(mu_) = false;
  bool has_hard_state_ ABSL_GUARDED_BY(mu_) = false;
  raft::LogIndex last_index_ ABSL_GUARDED_BY(mu_) = 0;  // == snapshot index if log empty
  raft::Term last_term_ ABSL_GUARDED_BY(mu_) = 0;
  // Where entries [locs_first_, last_index_] are; after Open, locs_first_ is
  // FirstIndex().
  std::deque<RecordLocation> locs_ ABSL_GUARDED_BY(mu_);
  raft::LogIndex locs_first_ ABSL_GUARDED_BY(mu_) = 1;
  // A suffix of the log: cache_.back() is last_index_ when non-empty, and
  // cache_.front().entry.index() >= FirstIndex().
  std::deque<Cached> cache_ ABSL_GUARDED_BY(mu_);
  size_t cache_memory_ ABSL_GUARDED_BY(mu_) = 0;  // sum of cache_[i].memory
};

}  // namespace synod::storage
