// The replica's RocksDB instance (RocksEnv): what it holds and what it
// refuses to open.
#include "storage/rocks_env.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "storage/format.h"
#include "tests/testing/temp_dir.h"

namespace synod::storage {
namespace {

using ::testing::HasSubstr;

TEST(RocksEnvTest, MemtablesAreChargedToTheCache) {
  // Unflushed writes show up as cache usage: the cache bounds memtables
  // and blocks together.
  synod::testing::TempDir dir;
  RocksEnv::Options options;
  options.path = dir.Sub("db");
  options.block_cache_bytes = 32u << 20;
  auto env = RocksEnv::Open(options);
  ASSERT_TRUE(env.ok()) << env.status();
  const size_t before = (*env)->cache()->GetUsage();
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  const std::string value(1024, 'v');
  for (int i = 0; i < 4096; ++i) {
    ASSERT_TRUE((*env)
                    ->db()
                    ->Put(wo, (*env)->cf(ColumnFamily::kNodes), "/k" + std::to_string(i), value)
                    .ok());
  }
  uint64_t memtables = 0;
  ASSERT_TRUE((*env)->db()->GetIntProperty((*env)->cf(ColumnFamily::kNodes),
                                           "rocksdb.cur-size-all-mem-tables", &memtables));
  ASSERT_GT(memtables, 4u << 20);
  EXPECT_GE((*env)->cache()->GetUsage(), before + memtables / 2);
  EXPECT_EQ(RocksEnv::MemtableBudget(32u << 20), 16u << 20);
  EXPECT_EQ(RocksEnv::MemtableBudget(1u << 20), 4u << 20);
}

// A data dir of store format 3, whose RocksDB also held the Raft log
// (column families raft_log and raft_meta), is refused before anything in
// it is touched: the error names the format found and the one expected.
TEST(RocksEnvTest, AStoreThatHoldsTheRaftLogIsRefused) {
  synod::testing::TempDir dir;
  const std::string path = dir.Sub("db");
  constexpr uint32_t kFound = 3;
  {
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const char* name :
         {"default", "raft_log", "raft_meta", "nodes", "history", "sessions", "meta"}) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(db_options, path, families, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string format;
    keys::AppendBigEndian32(&format, kFound);
    ASSERT_TRUE(db->Put({}, handles[6], keys::kMetaFormat, format).ok());
    ASSERT_TRUE(db->Put({}, handles[1], "entry", "one").ok());
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    }
    ASSERT_TRUE(db->Close().ok());
  }
  std::vector<std::string> before;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &before).ok());

  RocksEnv::Options options;
  options.path = path;
  absl::StatusOr<std::unique_ptr<RocksEnv>> env = RocksEnv::Open(options);
  ASSERT_EQ(env.status().code(), absl::StatusCode::kFailedPrecondition) << env.status();
  EXPECT_THAT(env.status().message(), HasSubstr(absl::StrCat("store format ", kFound, " found")));
  EXPECT_THAT(env.status().message(),
              HasSubstr(absl::StrCat("reads only store format ", kStoreFormatVersion)));
  EXPECT_THAT(env.status().message(), HasSubstr("raft_log"));
  std::vector<std::string> after;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &after).ok());
  EXPECT_EQ(after, before);
}

}  // namespace
}  // namespace synod::storage
