// LogStore: the replica's durable Raft log and Raft metadata, on RocksDB.
//
// It is the LogStorage the Raft core reads, and the driver's one way to make a
// Ready durable: Save() writes the Ready's snapshot metadata, its entries
// (truncating a conflicting tail) and its hard state in ONE WriteBatch, synced
// when the Ready says so. One fsync per Ready is the group commit of
// dissertation §10.2.1: every proposal that reached the core since the last
// Ready shares it.
//
// Layout:
//   kRaftLog:  key = 8-byte big-endian index (so iteration is in log order),
//              value = 4-byte CRC32C of the rest + serialized raftpb::Entry.
//   kRaftMeta: "hard_state", "snapshot" (raftpb::Snapshot: metadata plus the
//              small descriptor the driver puts in data), "log_last"
//              (big-endian last index + term, written with every change of
//              the log so a lost or truncated tail is noticed).
//
// What the per-entry checksum adds to RocksDB's own WAL and block checksums:
// those prove that bytes read back are bytes RocksDB wrote; ours proves that
// the entry under key i is the entry the driver wrote at index i (index and
// term live inside the checksummed value), so a misplaced value, a value
// mangled above RocksDB, a hole in the log or a tail shorter than "log_last"
// is caught at Open instead of being served to the core or to a follower.
// Open refuses such a log with DataLoss: it may hold entries this replica
// acknowledged, so dropping them silently could lose committed writes; the
// operator must rebuild this replica from its peers.
//
// Failure policy: a failed write is fatal (the process aborts with a message).
// After a failed fsync the kernel may have dropped the data; continuing could
// acknowledge what was never persisted.
//
// Thread: Save/SaveSnapshot/Compact/Bootstrap are called by one writer thread
// (the raft thread); the LogStorage reads may come from any thread. A mutex
// guards the in-memory view; it is not held during RocksDB writes, and the
// view changes only after the write succeeded.
//
// Invariants: FirstIndex() == snapshot index + 1; LastIndex() >= snapshot
// index; entries [FirstIndex, LastIndex] are all present, contiguous, with
// non-decreasing terms; the cache holds a suffix of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "raft/log_storage.h"
#include "raft/ready.h"
#include "raft/types.h"
#include "storage/rocks_env.h"

namespace synod::storage {

// Index of the snapshot every founding member starts from (its state is the
// empty tree).
inline constexpr raft::LogIndex kBootstrapIndex = 1;

class LogStore final : public raft::LogStorage {
 public:
  struct Options {
    // Memory for recent entries kept in memory, counted as what the cache
    // really holds (payload allocation plus per-entry bookkeeping), not the
    // serialized size; at least the last entry is always kept, whatever its
    // size. A follower that is behind by less than this is served without
    // reading RocksDB.
    size_t cache_bytes = 16u << 20;
  };

  // Loads and verifies the log (checksums, contiguity, terms, "log_last").
  // `env` is not owned and must outlive the store.
  // Errors: DataLoss (corrupt, truncated or inconsistent log), others from
  // RocksDB.
  static absl::StatusOr<std::unique_ptr<LogStore>> Open(RocksEnv* env, const Options& options);

  LogStore(const LogStore&) = delete;
  LogStore& operator=(const LogStore&) = delete;

  // True when nothing was ever written (no hard state, no snapshot, no log).
  bool IsEmpty() const;

  // Makes a fresh store the start of a new cluster: an empty log after a
  // "snapshot" at kBootstrapIndex (term 1) that holds the founding membership
  // and `descriptor`, hard state {term 1, commit kBootstrapIndex}.
  // FailedPrecondition if the store is not empty. Synced.
  absl::Status Bootstrap(const raft::ConfState& conf_state, std::string descriptor);

  // Persists the durable part of `ready` in one WriteBatch: its snapshot
  // (the log is then reset to start after it), its entries (a tail that
  // conflicts with them is removed) and its hard state. Synced if
  // ready.must_sync or a snapshot is present. Aborts the process on failure.
  void Save(const raft::Ready& ready);
  // The same, but moves ready->entries into the in-memory cache instead of
  // copying them; ready->entries is empty afterwards.
  void Save(raft::Ready* ready);
  void Save(const std::optional<raft::Snapshot>& snapshot, std::vector<raft::Entry> entries,
            const std::optional<raft::HardState>& hard_state, bool sync);

  // Records that a durable state snapshot covering [1, snapshot.index] now
  // exists, and deletes the log entries it covers (DeleteRange). The log
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

 private:
  struct Cached {
    raft::Entry entry;
    size_t bytes = 0;   // serialized size (what Entries' max_bytes limits)
    size_t memory = 0;  // CachedMemory(entry), what the cache bound counts
  };
  static size_t CachedMemory(const raft::Entry& entry);

  LogStore(RocksEnv* env, const Options& options) : env_(env), options_(options) {}

  absl::Status Load();
  // Reads [lo, hi) from RocksDB (not the cache), verifying each entry.
  absl::StatusOr<std::vector<raft::Entry>> ReadEntries(raft::LogIndex lo, raft::LogIndex hi,
                                                       uint64_t max_bytes) const;
  // Cache maintenance after a successful write (mu_ held).
  void CacheAppend(std::vector<raft::Entry>&& entries) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CachePush(raft::Entry&& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CacheTrim() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RocksEnv* const env_;
  const Options options_;

  mutable absl::Mutex mu_;
  raft::HardState hard_state_ ABSL_GUARDED_BY(mu_);
  raft::Snapshot snapshot_ ABSL_GUARDED_BY(mu_);  // data + metadata of the latest
  bool has_snapshot_ ABSL_GUARDED_BY(mu_) = false;
  bool has_hard_state_ ABSL_GUARDED_BY(mu_) = false;
  raft::LogIndex last_index_ ABSL_GUARDED_BY(mu_) = 0;  // == snapshot index if log empty
  raft::Term last_term_ ABSL_GUARDED_BY(mu_) = 0;
  // A suffix of the log: cache_.back() is last_index_ when non-empty, and
  // cache_.front().entry.index() >= FirstIndex().
  std::deque<Cached> cache_ ABSL_GUARDED_BY(mu_);
  size_t cache_memory_ ABSL_GUARDED_BY(mu_) = 0;  // sum of cache_[i].memory
};

// Encodes a log index as a RocksDB key that sorts in index order.
std::string LogKey(raft::LogIndex index);

}  // namespace synod::storage
