// The replicated state in RocksDB (RocksTreeStore) across a power cut and a
// failing disk, through a rocksdb::FileSystemWrapper that drops whatever was
// not synced and can fail syncs: after a restart the state is the state
// after some prefix of the applied entries, no older than the last flush
// that succeeded and no newer than the crash, so replaying the log from its
// applied index gives the same state as never crashing. A failed sync is
// reported, never passed over.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "storage/tree_test_util.h"

namespace synod::storage::testing {
namespace {

// Files written through it are durable only up to their last Sync/Fsync.
// Crash() is the power cut: from then on nothing reaches the disk (writes
// still go to the files, but Restore() cuts every file back to what was
// synced at the crash and removes files made after it; deletes and renames
// after it do nothing). Directory entries are taken as durable at once.
class CrashFs : public rocksdb::FileSystemWrapper {
 public:
  CrashFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "CrashFs"; }

  void Crash() {
    absl::MutexLock lock(&mu_);
    crashed_ = true;
    at_crash_.clear();
    for (const auto& [path, file] : files_) at_crash_[path] = file.synced;
  }
  void FailSyncs(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_syncs_ = fail;
  }
  // Call with the DB closed.
  void Restore() {
    absl::MutexLock lock(&mu_);
    std::error_code ec;
    for (const auto& [path, file] : files_) {
      auto it = at_crash_.find(path);
      if (it == at_crash_.end()) {
        std::filesystem::remove(path, ec);
      } else if (std::filesystem::exists(path, ec)) {
        std::filesystem::resize_file(path, it->second, ec);
      }
      EXPECT_FALSE(ec) << path << ": " << ec.message();
    }
    files_.clear();
    at_crash_.clear();
    crashed_ = false;
    fail_syncs_ = false;
  }

  rocksdb::IOStatus NewWritableFile(const std::string& path, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(path, options, result, dbg);
    if (!s.ok()) return s;
    {
      absl::MutexLock lock(&mu_);
      files_[path] = Tracked{};
    }
    *result = std::make_unique<File>(std::move(*result), this, path);
    return s;
  }

  rocksdb::IOStatus DeleteFile(const std::string& path, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    {
      absl::MutexLock lock(&mu_);
      if (crashed_) return rocksdb::IOStatus::OK();
      files_.erase(path);
    }
    return target()->DeleteFile(path, options, dbg);
  }

  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    absl::MutexLock lock(&mu_);
    if (crashed_) return rocksdb::IOStatus::OK();
    rocksdb::IOStatus s = target()->RenameFile(from, to, options, dbg);
    if (s.ok()) {
      auto it = files_.find(from);
      if (it != files_.end()) {
        files_[to] = it->second;
        files_.erase(from);
      } else {
        files_.erase(to);  // `to` is now a file not written here: durable
      }
    }
    return s;
  }

 private:
  struct Tracked {
    uint64_t written = 0;
    uint64_t synced = 0;
  };

  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& file, CrashFs* fs, std::string path)
        : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs), path_(std::move(path)) {}

    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = target()->Append(data, options, dbg);
      if (s.ok()) fs_->Wrote(path_, data.size());
      return s;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = target()->Append(data, options, info, dbg);
      if (s.ok()) fs_->Wrote(path_, data.size());
      return s;
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
      if (fs_->SyncFails()) return rocksdb::IOStatus::IOError("injected sync failure: " + path_);
      rocksdb::IOStatus s = target()->Sync(options, dbg);
      if (s.ok()) fs_->Synced(path_);
      return s;
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      if (fs_->SyncFails()) return rocksdb::IOStatus::IOError("injected sync failure: " + path_);
      rocksdb::IOStatus s = target()->Fsync(options, dbg);
      if (s.ok()) fs_->Synced(path_);
      return s;
    }
    // Positioned writes and range syncs are not used on this DB's files
    // (no direct I/O); bytes_per_sync's RangeSync makes nothing durable.

   private:
    CrashFs* const fs_;
    const std::string path_;
  };

  void Wrote(const std::string& path, uint64_t n) {
    absl::MutexLock lock(&mu_);
    files_[path].written += n;
  }
  void Synced(const std::string& path) {
    absl::MutexLock lock(&mu_);
    if (crashed_) return;
    Tracked& file = files_[path];
    file.synced = file.written;
  }
  bool SyncFails() {
    absl::MutexLock lock(&mu_);
    return fail_syncs_;
  }

  absl::Mutex mu_;
  std::map<std::string, Tracked> files_ ABSL_GUARDED_BY(mu_);  // written through this
  std::map<std::string, uint64_t> at_crash_ ABSL_GUARDED_BY(mu_);  // synced bytes then
  bool crashed_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_syncs_ ABSL_GUARDED_BY(mu_) = false;
};

ApplyLimits Limits() {
  ApplyLimits limits;
  limits.history_per_node = 3;
  return limits;
}

// A seeded command sequence and the state (Dump) after each prefix of it,
// from the memory backend: what the log proves.
struct History {
  std::vector<v1::Command> commands;  // commands[i] is entry base + i
  std::vector<std::string> dumps;     // dumps[i]: after commands[0, i)
  uint64_t base = 0;

  History(uint64_t seed, size_t n) {
    MemoryHolder memory;
    Driver driver(memory.store(), Limits());
    base = driver.next_index();
    CommandGenerator gen(seed);
    dumps.push_back(Dump(memory.store()));
    for (size_t i = 0; i < n; ++i) {
      commands.push_back(gen.Next(driver.next_index(), memory.store()));
      driver.Apply(commands.back());
      dumps.push_back(Dump(memory.store()));
    }
  }
  // The state after the entries up to `applied`.
  const std::string& At(uint64_t applied) const { return dumps.at(applied + 1 - base); }
};

class RocksCrashTest : public ::testing::Test {
 protected:
  void Open() {
    RocksEnv::Options options;
    options.path = dir_.Sub("db");
    options.block_cache_bytes = 8 << 20;
    options.env = env_.get();
    auto env = RocksEnv::Open(options);
    ASSERT_TRUE(env.ok()) << env.status();
    rocks_ = *std::move(env);
    RocksTreeStore::OpenOptions store_options;
    store_options.history_ring = Limits().history_per_node;
    auto store = RocksTreeStore::Open(rocks_.get(), store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    driver_ = std::make_unique<Driver>(store_.get(), Limits());
  }
  void Close() {
    driver_.reset();
    store_.reset();
    rocks_.reset();
  }
  // Applies entries until `last` (inclusive), flushing every `flush_every`;
  // returns the applied index of the last flush that succeeded.
  uint64_t ApplyUntil(const History& history, uint64_t last, uint64_t flush_every,
                      uint64_t flushed) {
    while (driver_->next_index() <= last) {
      const uint64_t index = driver_->next_index();
      driver_->Apply(history.commands.at(index - history.base));
      if ((index - history.base + 1) % flush_every == 0 && rocks_->Flush().ok()) flushed = index;
    }
    return flushed;
  }
  // After the restart: a state the log proves, then the log replayed on it.
  // Returns the applied index the restart found.
  uint64_t ExpectRecovers(const History& history, uint64_t flushed, uint64_t crashed_at) {
    Open();
    const uint64_t applied = store_->meta().applied_index;
    EXPECT_GE(applied, flushed) << "a flushed state was lost";
    EXPECT_LE(applied, crashed_at) << "state from after the crash survived";
    EXPECT_EQ(Dump(store_.get()), history.At(applied));
    const uint64_t last = history.base + history.commands.size() - 1;
    ApplyUntil(history, last, UINT64_MAX, 0);
    EXPECT_EQ(Dump(store_.get()), history.At(last));
    return applied;
  }

  synod::testing::TempDir dir_{"synod-rocks-crash-"};
  std::shared_ptr<CrashFs> fs_ = std::make_shared<CrashFs>();
  std::unique_ptr<rocksdb::Env> env_ = rocksdb::NewCompositeEnv(fs_);
  std::unique_ptr<RocksEnv> rocks_;
  std::unique_ptr<RocksTreeStore> store_;
  std::unique_ptr<Driver> driver_;
};

TEST_F(RocksCrashTest, PowerCutKeepsAStateTheLogReplays) {
  const History history(/*seed=*/7, 240);
  int lost_unflushed = 0;  // restarts that found less than was applied
  for (uint64_t crash_after : {0, 5, 30, 31, 59, 60, 61, 150, 239}) {
    SCOPED_TRACE(::testing::Message() << "crash after " << crash_after << " entries");
    std::filesystem::remove_all(dir_.Sub("db"));
    ASSERT_NO_FATAL_FAILURE(Open());
    const uint64_t crashed_at = history.base + crash_after - 1;
    const uint64_t flushed = ApplyUntil(history, crashed_at, 30, 0);
    fs_->Crash();
    // The process runs on, unaware, and flushes (which reaches no disk).
    ApplyUntil(history, std::min<uint64_t>(crashed_at + 20, history.base + 239), 10, 0);
    Close();
    fs_->Restore();
    uint64_t applied = 0;
    ASSERT_NO_FATAL_FAILURE(applied = ExpectRecovers(history, flushed, crashed_at));
    if (applied < crashed_at) ++lost_unflushed;
    Close();
  }
  // The power cuts really dropped what was not synced.
  EXPECT_GE(lost_unflushed, 5);
}

TEST_F(RocksCrashTest, FailedSyncIsReportedAndTheStateStillReplays) {
  const History history(/*seed=*/11, 120);
  ASSERT_NO_FATAL_FAILURE(Open());
  const uint64_t flushed = ApplyUntil(history, history.base + 59, 30, 0);
  ASSERT_EQ(flushed, history.base + 59);
  ApplyUntil(history, history.base + 89, UINT64_MAX, 0);
  fs_->FailSyncs(true);
  // The flush that would make entries up to 90 durable fails, and says so:
  // the replica must not count them as persisted.
  const absl::Status s = rocks_->Flush();
  EXPECT_FALSE(s.ok());
  fs_->Crash();
  Close();
  fs_->Restore();
  uint64_t applied = 0;
  ASSERT_NO_FATAL_FAILURE(applied = ExpectRecovers(history, flushed, history.base + 89));
  EXPECT_EQ(applied, flushed);  // the failed flush made nothing durable
  Close();
}

}  // namespace
}  // namespace synod::storage::testing
