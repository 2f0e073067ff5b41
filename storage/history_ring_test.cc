// The RocksDB store's history rings (format.h, kHistory): a set costs no
// delete, the bound holds, and a store of another bound is rewritten on
// open with the newest versions of each path kept.
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
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

}  // namespace
}  // namespace synod::storage::testing
