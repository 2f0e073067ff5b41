// The RocksDB store's history rings (format.h, kHistory): a set costs no
// delete, the bound holds, and stores of store format 1 or of another bound
// are rewritten on open with the newest versions of each path kept.
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/format.h"
#include "storage/node.h"
#include "storage/tree_test_util.h"

namespace synod::storage::testing {
namespace {

ApplyLimits Keep(uint32_t versions) {
  ApplyLimits limits;
  limits.history_per_node = versions;
  return limits;
}

// The data of the retained versions of `path`, newest first.
std::vector<std::string> VersionData(TreeStore* store, const std::string& path) {
  absl::StatusOr<HistoryResult> h = store->History(path, 0);
  EXPECT_TRUE(h.ok()) << h.status();
  std::vector<std::string> out;
  if (h.ok()) {
    for (const HistoryEntry& e : h->versions) out.push_back(e.data);
  }
  return out;
}

// Creates `path` with data "v0" and sets it to "v1" .. "v<sets>".
void CreateAndSet(Driver* driver, const std::string& path, int sets) {
  ASSERT_EQ(driver->Apply(CreateCmd(path, "v0")).result.code(), v1::OK);
  for (int i = 1; i <= sets; ++i) {
    ASSERT_EQ(driver->Apply(SetCmd(path, "v" + std::to_string(i))).result.code(), v1::OK);
  }
}

uint64_t HistoryDeletesInMemtable(RocksHolder* rocks) {
  uint64_t n = 0;
  EXPECT_TRUE(rocks->env()->db()->GetIntProperty(rocks->env()->cf(ColumnFamily::kHistory),
                                                 "rocksdb.num-deletes-active-mem-table", &n));
  return n;
}

TEST(HistoryRingTest, SetsReplaceTheOldestVersionWithoutADelete) {
  RocksHolder rocks(3);
  Driver driver(rocks.store(), Keep(3));
  CreateAndSet(&driver, "/a", 20);
  EXPECT_EQ(HistoryDeletesInMemtable(&rocks), 0u);
  EXPECT_EQ(VersionData(rocks.store(), "/a"), (std::vector<std::string>{"v20", "v19", "v18"}));
  // The bound survives a reopen with the same ring (no rewrite needed).
  rocks.Reopen();
  EXPECT_EQ(VersionData(rocks.store(), "/a"), (std::vector<std::string>{"v20", "v19", "v18"}));
}

TEST(HistoryRingTest, AnApplierWithAnotherBoundIsRefused) {
  RocksHolder rocks(3);
  Applier applier(rocks.store(), Keep(4));
  v1::Command create = CreateCmd("/a", "x");
  ApplyEntry entry;
  entry.index = rocks.store()->meta().applied_index + 1;
  entry.command = &create;
  absl::StatusOr<std::vector<EntryOutcome>> out = applier.ApplyBatch({entry});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition) << out.status();
  EXPECT_EQ(VersionData(rocks.store(), "/a"), std::vector<std::string>{});
}

TEST(HistoryRingTest, ReopenWithAnotherBoundKeepsTheNewestVersions) {
  RocksHolder rocks(5);
  {
    Driver driver(rocks.store(), Keep(5));
    CreateAndSet(&driver, "/a", 12);
    CreateAndSet(&driver, "/b", 1);
    ASSERT_EQ(driver.Apply(DeleteCmd("/b")).result.code(), v1::OK);
  }
  rocks.ReopenWithRing(3);
  EXPECT_EQ(VersionData(rocks.store(), "/a"), (std::vector<std::string>{"v12", "v11", "v10"}));
  // /b: create, set, tombstone: all three fit.
  EXPECT_EQ(VersionData(rocks.store(), "/b").size(), 3u);
  {
    Driver driver(rocks.store(), Keep(3));
    ASSERT_EQ(driver.Apply(SetCmd("/a", "v13")).result.code(), v1::OK);
    // Re-creating /b continues its seqs after the tombstone.
    ASSERT_EQ(driver.Apply(CreateCmd("/b", "again")).result.code(), v1::OK);
  }
  EXPECT_EQ(VersionData(rocks.store(), "/a"), (std::vector<std::string>{"v13", "v12", "v11"}));
  std::vector<std::string> b = VersionData(rocks.store(), "/b");
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0], "again");
  EXPECT_EQ(b[2], "v1");
  // A larger ring keeps what there is and grows from there.
  rocks.ReopenWithRing(6);
  {
    Driver driver(rocks.store(), Keep(6));
    ASSERT_EQ(driver.Apply(SetCmd("/a", "v14")).result.code(), v1::OK);
  }
  EXPECT_EQ(VersionData(rocks.store(), "/a"),
            (std::vector<std::string>{"v14", "v13", "v12", "v11"}));
}

TEST(HistoryRingTest, SnapshotIntoASmallerRingKeepsTheNewest) {
  synod::testing::TempDir dir("synod-ring-");
  RocksHolder from(5);
  Driver driver(from.store(), Keep(5));
  CreateAndSet(&driver, "/a", 9);
  ASSERT_TRUE(from.store()->WriteSnapshot(dir.Sub("snap")).ok());
  RocksHolder to(2);
  ASSERT_TRUE(to.store()->RestoreSnapshot(dir.Sub("snap")).ok());
  EXPECT_EQ(VersionData(to.store(), "/a"), (std::vector<std::string>{"v9", "v8"}));
  EXPECT_EQ(to.store()->meta(), from.store()->meta());
}

// Rewrites the store's history in store format 1: one key per seq, the
// entry alone as the value. With `stale_path`, also versions 1 ..
// `stale` of it with data "stale" (format 1 could keep versions beyond
// the bound after the bound was lowered).
void DowngradeToFormatOne(RocksHolder* rocks, const std::string& stale_path = "",
                          uint64_t stale = 0) {
  auto view = rocks->store()->NewView();
  ASSERT_TRUE(view.ok());
  std::vector<std::tuple<std::string, uint64_t, HistoryEntry>> all;
  ASSERT_TRUE((*view)
                  ->ForEachHistory([&](std::string_view path, uint64_t seq, const HistoryEntry& e) {
                    all.emplace_back(std::string(path), seq, e);
                    return absl::OkStatus();
                  })
                  .ok());
  view->reset();
  rocksdb::ColumnFamilyHandle* history = rocks->env()->cf(ColumnFamily::kHistory);
  rocksdb::WriteBatch batch;
  ASSERT_TRUE(batch
                  .DeleteRange(history, std::string(1, keys::kHistoryTag),
                               std::string(1, keys::kHistoryTag + 1))
                  .ok());
  for (const auto& [path, seq, entry] : all) {
    ASSERT_TRUE(batch.Put(history, keys::HistoryKey(path, seq), EncodeHistoryEntry(entry)).ok());
    if (path != stale_path) continue;
    ASSERT_GT(seq, stale);  // the stale ones are older than every kept one
    HistoryEntry old = entry;
    old.data = "stale";
    for (uint64_t s = 1; s <= stale; ++s) {
      ASSERT_TRUE(batch.Put(history, keys::HistoryKey(path, s), EncodeHistoryEntry(old)).ok());
    }
  }
  std::string one;
  keys::AppendBigEndian32(&one, 1);
  rocksdb::ColumnFamilyHandle* meta = rocks->env()->cf(ColumnFamily::kMeta);
  ASSERT_TRUE(batch.Put(meta, keys::kMetaFormat, one).ok());
  ASSERT_TRUE(batch.Delete(meta, keys::kMetaHistoryRing).ok());
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  ASSERT_TRUE(rocks->env()->db()->Write(wo, &batch).ok());
  ASSERT_TRUE(rocks->env()->Flush().ok());
}

TEST(HistoryRingTest, FormatOneStoreIsRewrittenOnOpen) {
  RocksHolder rocks(3);
  {
    Driver driver(rocks.store(), Keep(3));
    CreateAndSet(&driver, "/a", 7);
    CreateAndSet(&driver, "/b", 1);
  }
  const std::string before = Dump(rocks.store());
  const StoreMeta meta = rocks.store()->meta();
  DowngradeToFormatOne(&rocks);
  rocks.Reopen();
  EXPECT_EQ(Dump(rocks.store()), before);
  EXPECT_EQ(rocks.store()->meta(), meta);
  std::string format;
  ASSERT_TRUE(rocks.env()
                  ->db()
                  ->Get({}, rocks.env()->cf(ColumnFamily::kMeta), keys::kMetaFormat, &format)
                  .ok());
  EXPECT_EQ(keys::ReadBigEndian32(format), kStoreFormatVersion);
  // And it keeps working: the next set replaces the oldest version.
  Driver driver(rocks.store(), Keep(3));
  ASSERT_EQ(driver.Apply(SetCmd("/a", "v8")).result.code(), v1::OK);
  EXPECT_EQ(VersionData(rocks.store(), "/a"), (std::vector<std::string>{"v8", "v7", "v6"}));
}

TEST(HistoryRingTest, FormatOneVersionsBeyondTheBoundAreDropped) {
  RocksHolder rocks(3);
  {
    Driver driver(rocks.store(), Keep(3));
    CreateAndSet(&driver, "/a", 7);
  }
  DowngradeToFormatOne(&rocks, "/a", 2);
  rocks.Reopen();
  for (const char* path : {"/", "/a"}) {
    for (const std::string& data : VersionData(rocks.store(), path)) EXPECT_NE(data, "stale");
  }
  EXPECT_EQ(VersionData(rocks.store(), "/a"), (std::vector<std::string>{"v7", "v6", "v5"}));
}

}  // namespace
}  // namespace synod::storage::testing
