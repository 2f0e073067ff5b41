// The Applier's cache of the nodes it wrote: it must never stand in for a
// state the store no longer holds.
#include <string>

#include "gtest/gtest.h"
#include "storage/tree_test_util.h"

namespace synod::storage::testing {
namespace {

template <typename Holder>
class ApplierNodeCacheTest : public ::testing::Test {
 protected:
  Holder holder_;
};

TYPED_TEST_SUITE(ApplierNodeCacheTest, StoreBackends, StoreBackendNames);

// After a restore to an older state, the nodes written since then (which
// the cache held) are gone: the next write sees the restored node.
TYPED_TEST(ApplierNodeCacheTest, ARestoreToAnOlderStateIsSeenByTheNextWrite) {
  synod::testing::TempDir dir("synod-cache-");
  TreeStore* store = this->holder_.store();
  Driver driver(store);
  ASSERT_EQ(driver.Apply(CreateCmd("/a", "v0")).result.code(), v1::OK);
  ASSERT_EQ(driver.Apply(SetCmd("/a", "v1")).result.code(), v1::OK);
  ASSERT_TRUE(store->WriteSnapshot(dir.Sub("snap")).ok());
  const uint64_t snapshot_index = store->meta().applied_index;
  for (int i = 2; i <= 4; ++i) {
    ASSERT_EQ(driver.Apply(SetCmd("/a", "v" + std::to_string(i))).result.code(), v1::OK);
  }
  ASSERT_TRUE(store->RestoreSnapshot(dir.Sub("snap")).ok());
  ASSERT_EQ(store->meta().applied_index, snapshot_index);

  // The same Applier goes on from the restored index: /a is at version 1.
  driver.set_next_index(snapshot_index + 1);
  EntryOutcome out = driver.Apply(SetCmd("/a", "after", /*version=*/1));
  ASSERT_EQ(out.result.code(), v1::OK);
  absl::StatusOr<NodeResult> now = store->Get("/a");
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->data, "after");
  EXPECT_EQ(now->stat.version, 2);
}

// A node deleted and created again in later batches is read back from
// what was committed each time, deletes included.
TYPED_TEST(ApplierNodeCacheTest, DeletesAndRecreatesAcrossBatches) {
  TreeStore* store = this->holder_.store();
  Driver driver(store);
  ASSERT_EQ(driver.Apply(CreateCmd("/a", "one")).result.code(), v1::OK);
  ASSERT_EQ(driver.Apply(SetCmd("/a", "two")).result.code(), v1::OK);
  ASSERT_EQ(driver.Apply(DeleteCmd("/a")).result.code(), v1::OK);
  EXPECT_EQ(driver.Apply(SetCmd("/a", "x")).result.code(), v1::NO_NODE);
  ASSERT_EQ(driver.Apply(CreateCmd("/a", "three")).result.code(), v1::OK);
  EXPECT_EQ(driver.Apply(SetCmd("/a", "four", /*version=*/1)).result.code(), v1::BAD_VERSION);
  ASSERT_EQ(driver.Apply(SetCmd("/a", "four", /*version=*/0)).result.code(), v1::OK);
  EXPECT_EQ(store->Get("/a")->data, "four");
}

}  // namespace
}  // namespace synod::storage::testing
