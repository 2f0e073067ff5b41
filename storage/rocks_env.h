// RocksEnv: the one RocksDB instance of a replica and its column families.
//
// It holds the replicated state (TreeStore) and nothing else: the column
// families nodes, history, sessions and meta, which are what a snapshot
// holds. The state is written to memtables only and flushed atomically
// across column families (atomic_flush), because the Raft log (LogStore, in
// segment files of its own) already is its write-ahead log
// (rocks_tree_store.h). A DB that holds column families of another store
// format is refused at Open (format.h).
//
// Memory: block_cache_bytes bounds the block cache, the index and filter
// partitions and the memtables together (memtables are charged to the
// cache); what RocksDB holds beyond that does not grow with the tree.
//
// Thread-safety: rocksdb::DB is thread-safe; RocksEnv is immutable after Open.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rocksdb/db.h"
#include "rocksdb/write_buffer_manager.h"

namespace synod::storage {

enum class ColumnFamily : int {
  kNodes = 0,     // the tree
  kHistory = 1,   // earlier versions of nodes
  kSessions = 2,  // client sessions and their exactly-once results
  kMeta = 3,      // applied index, digest, compaction revision, format
};
inline constexpr int kNumColumnFamilies = 4;

const char* ColumnFamilyName(ColumnFamily cf);

// Converts a rocksdb::Status into an absl::Status with the same meaning
// (corruption -> DataLoss, no space -> ResourceExhausted, IO -> Internal).
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what);

class RocksEnv {
 public:
  struct Options {
    std::string path;
    // RocksDB's whole memory budget: blocks, index/filter partitions and
    // memtables (up to MemtableBudget of it).
    size_t block_cache_bytes = 64u << 20;
    bool create_if_missing = true;
    // The Env RocksDB runs on; null means the default one (tests: a file
    // system with faults). Must outlive the RocksEnv.
    rocksdb::Env* env = nullptr;
  };

  // Opens (or creates) the DB at options.path.
  // Errors: FailedPrecondition if the DB holds column families this store
  // format does not have (the message names the store format recorded in
  // it and the one this binary reads); RocksDB's, converted by FromRocks.
  static absl::StatusOr<std::unique_ptr<RocksEnv>> Open(const Options& options);
  ~RocksEnv();
  RocksEnv(const RocksEnv&) = delete;
  RocksEnv& operator=(const RocksEnv&) = delete;

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(ColumnFamily which) const {
    return handles_[static_cast<int>(which)];
  }
  const std::string& path() const { return path_; }

  // Flushes memtables and the WAL to disk (clean shutdown).
  absl::Status Flush();

  // Bytes of the cache the memtables of all column families may take
  // before the largest is flushed.
  static size_t MemtableBudget(size_t block_cache_bytes);
  const std::shared_ptr<rocksdb::Cache>& cache() const { return cache_; }

 private:
  RocksEnv() = default;
  std::string path_;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers_;
  std::unique_ptr<rocksdb::DB> db_;
  std::array<rocksdb::ColumnFamilyHandle*, kNumColumnFamilies> handles_{};
};

}  // namespace synod::storage
