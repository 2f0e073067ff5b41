#include "storage/rocks_env.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"
#include "rocksdb/write_buffer_manager.h"
#include "storage/format.h"

namespace synod::storage {

const char* ColumnFamilyName(ColumnFamily cf) {
  switch (cf) {
    case ColumnFamily::kNodes:
      return "nodes";
    case ColumnFamily::kHistory:
      return "history";
    case ColumnFamily::kSessions:
      return "sessions";
    case ColumnFamily::kMeta:
      return "meta";
  }
  return "unknown";
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return absl::UnavailableError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

namespace {

bool Supported(rocksdb::CompressionType type) {
  const std::vector<rocksdb::CompressionType> all = rocksdb::GetSupportedCompressions();
  return std::find(all.begin(), all.end(), type) != all.end();
}

// The store format the DB at `path` records (kMeta "format"), as text for
// an error message: read through a read-only open of its meta family
// alone, which changes nothing in the DB.
std::string RecordedStoreFormat(const std::string& path, rocksdb::Env* env,
                                const std::vector<std::string>& families) {
  const std::string meta = ColumnFamilyName(ColumnFamily::kMeta);
  if (std::find(families.begin(), families.end(), meta) == families.end()) return "none";
  rocksdb::DBOptions options;
  if (env != nullptr) options.env = env;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  descriptors.emplace_back(meta, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, path, descriptors, &handles, &raw);
  if (!s.ok()) return absl::StrCat("unknown (", s.ToString(), ")");
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string value;
  s = db->Get(rocksdb::ReadOptions(), handles[1], keys::kMetaFormat, &value);
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    // The DB is read-only and closes next: a failed release loses nothing.
    db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  if (s.IsNotFound()) return "none";
  if (!s.ok()) return absl::StrCat("unknown (", s.ToString(), ")");
  if (value.size() != 4) return "unknown (malformed)";
  uint32_t version = 0;
  for (char c : value) version = (version << 8) | static_cast<uint8_t>(c);
  return absl::StrCat(version);
}

// Refuses a DB that holds column families this store format does not
// have: they are another format's data, which this binary would ignore
// (a Raft log kept in RocksDB, say, taken for an empty one).
absl::Status CheckColumnFamilies(const std::string& path, rocksdb::Env* env) {
  rocksdb::DBOptions options;
  if (env != nullptr) options.env = env;
  std::vector<std::string> families;
  // No DB there yet (or none readable): DB::Open creates it or says why.
  if (!rocksdb::DB::ListColumnFamilies(options, path, &families).ok()) return absl::OkStatus();
  std::vector<std::string> foreign;
  for (const std::string& name : families) {
    bool known = name == rocksdb::kDefaultColumnFamilyName;
    for (int i = 0; i < kNumColumnFamilies; ++i) {
      known = known || name == ColumnFamilyName(static_cast<ColumnFamily>(i));
    }
    if (!known) foreign.push_back(name);
  }
  if (foreign.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "RocksDB at ", path, " holds column families (", absl::StrJoin(foreign, ", "),
      ") of another store format: store format ", RecordedStoreFormat(path, env, families),
      " found, this binary reads only store format ", kStoreFormatVersion,
      " (formats of development builds are not migrated: see docs/operations.md)"));
}

}  // namespace

size_t RocksEnv::MemtableBudget(size_t block_cache_bytes) {
  // Half the budget at most, so reads keep at least half of the cache, and
  // 4 MiB at least, so a tiny cache does not turn every few writes into a
  // flush.
  return std::max<size_t>(block_cache_bytes / 2, 4u << 20);
}

absl::StatusOr<std::unique_ptr<RocksEnv>> RocksEnv::Open(const Options& options) {
  if (absl::Status s = CheckColumnFamilies(options.path, options.env); !s.ok()) return s;
  std::unique_ptr<RocksEnv> env(new RocksEnv());
  env->path_ = options.path;
  env->cache_ = rocksdb::NewLRUCache(options.block_cache_bytes);
  // Memtables are charged to the same cache (as dummy entries that evict
  // data blocks), so block_cache_bytes bounds blocks, index and filter
  // partitions and memtables together: the RocksDB part of the replica's
  // memory does not grow with the tree. The manager also flushes the
  // largest memtable once all of them together reach its size.
  env->write_buffers_ = std::make_shared<rocksdb::WriteBufferManager>(
      MemtableBudget(options.block_cache_bytes), env->cache_);

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = env->cache_;
  // Index and filter blocks live in the cache too, so memory stays bounded
  // by the cache size however large the tree grows.
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  // Partitioned index and filters: only the small top-level index must stay
  // in the cache, so a cache much smaller than the tree still serves point
  // reads without re-reading whole index blocks per lookup.
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.pin_top_level_index_and_filter = true;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
  table.format_version = 5;

  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Small memtables: the write buffer manager above flushes by total size,
  // and with atomic_flush one flush writes every column family, so what a
  // memtable may hold is bounded by the shared budget rather than per family.
  cf_options.write_buffer_size = 16u << 20;
  cf_options.max_write_buffer_number = 2;
  // L0 (the flush, on the write path's heels) stays uncompressed; every
  // level below is written by background compaction, where LZ4 costs little
  // CPU. Without LZ4 support in the RocksDB build, nothing is compressed.
  cf_options.compression = rocksdb::kNoCompression;
  if (Supported(rocksdb::kLZ4Compression)) {
    cf_options.compression_per_level.assign(7, rocksdb::kLZ4Compression);
    cf_options.compression_per_level[0] = rocksdb::kNoCompression;
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = options.create_if_missing;
  db_options.max_background_jobs = 2;
  // The state column families are written without the WAL (see
  // rocks_tree_store.h): they must reach disk together, as one point in
  // time.
  db_options.atomic_flush = true;
  db_options.max_open_files = 512;
  // SST files (flushes, compactions) go to the disk a MiB at a time while
  // they are written, not all at their final fsync, which would queue them
  // ahead of the Raft log's fdatasyncs (log_segments.cc does the same).
  db_options.bytes_per_sync = 1u << 20;
  db_options.write_buffer_manager = env->write_buffers_;
  if (options.env != nullptr) db_options.env = options.env;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  for (int i = 0; i < kNumColumnFamilies; ++i) {
    descriptors.emplace_back(ColumnFamilyName(static_cast<ColumnFamily>(i)), cf_options);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("open RocksDB at ", options.path));
  env->db_.reset(raw);
  // handles[0] is the default column family; RocksDB keeps it alive itself.
  env->db_->DestroyColumnFamilyHandle(handles[0]);
  for (int i = 0; i < kNumColumnFamilies; ++i) env->handles_[i] = handles[i + 1];
  return env;
}

RocksEnv::~RocksEnv() {
  if (!db_) return;
  for (auto* h : handles_) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  db_->Close().PermitUncheckedError();
}

absl::Status RocksEnv::Flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  std::vector<rocksdb::ColumnFamilyHandle*> all(handles_.begin(), handles_.end());
  if (auto s = db_->Flush(fo, all); !s.ok()) return FromRocks(s, "flush");
  return FromRocks(db_->FlushWAL(/*sync=*/true), "flush WAL");
}

}  // namespace synod::storage
