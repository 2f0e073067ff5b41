// ZooKeeper's null data (CreateOp/SetOp null_data) over both backends: a
// node created or set with null data reads back as null, a set with data
// (even empty) makes it ordinary again, null data with bytes is refused
// and changes nothing, and nullness survives a reopen, a snapshot and a
// restore (it is part of the node record and its digest).
#include <string>

#include "gtest/gtest.h"
#include "storage/apply.h"
#include "storage/tree_test_util.h"
#include "tests/testing/temp_dir.h"

namespace synod::storage::testing {
namespace {

template <typename Holder>
class NullDataTest : public ::testing::Test {
 protected:
  v1::ErrorCode Apply(const v1::Command& c) { return driver_.Apply(c).result.code(); }
  static v1::Command NullCreate(const std::string& path, const std::string& data = "") {
    v1::Command c = CreateCmd(path, data);
    c.mutable_txn()->mutable_ops(0)->mutable_create()->set_null_data(true);
    return c;
  }
  static v1::Command NullSet(const std::string& path, const std::string& data = "") {
    v1::Command c = SetCmd(path, data);
    c.mutable_txn()->mutable_ops(0)->mutable_set()->set_null_data(true);
    return c;
  }
  NodeResult Get(const std::string& path) {
    auto got = holder_.store()->Get(path);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : NodeResult{};
  }

  Holder holder_;
  Driver driver_{holder_.store()};
};

TYPED_TEST_SUITE(NullDataTest, StoreBackends, StoreBackendNames);

TYPED_TEST(NullDataTest, NullUntilSetWithData) {
  ASSERT_EQ(this->Apply(this->NullCreate("/n")), v1::OK);
  ASSERT_EQ(this->Apply(CreateCmd("/e", "")), v1::OK);
  EXPECT_TRUE(this->Get("/n").data_null);
  EXPECT_FALSE(this->Get("/e").data_null);
  EXPECT_EQ(this->Get("/n").stat.data_length, 0);

  ASSERT_EQ(this->Apply(SetCmd("/n", "")), v1::OK);  // empty, not null
  EXPECT_FALSE(this->Get("/n").data_null);
  ASSERT_EQ(this->Apply(this->NullSet("/n")), v1::OK);
  EXPECT_TRUE(this->Get("/n").data_null);
  EXPECT_EQ(this->Get("/n").stat.version, 2);
  ASSERT_EQ(this->Apply(SetCmd("/n", "x")), v1::OK);
  EXPECT_FALSE(this->Get("/n").data_null);
  EXPECT_EQ(this->Get("/n").data, "x");
}

TYPED_TEST(NullDataTest, NullWithBytesIsRefused) {
  ASSERT_EQ(this->Apply(CreateCmd("/a", "x")), v1::OK);
  const std::string before = Dump(this->holder_.store());
  EXPECT_EQ(this->Apply(this->NullCreate("/b", "x")), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Apply(this->NullSet("/a", "y")), v1::INVALID_ARGUMENT);
  const std::string after = Dump(this->holder_.store());
  // Only the applied index moved.
  EXPECT_EQ(before.substr(before.find('\n')), after.substr(after.find('\n')));
}

TYPED_TEST(NullDataTest, NullSurvivesReopenSnapshotAndRestore) {
  ASSERT_EQ(this->Apply(this->NullCreate("/n")), v1::OK);
  ASSERT_EQ(this->Apply(CreateCmd("/e", "")), v1::OK);
  synod::testing::TempDir dir;
  ExpectStateSurvivesReopenAndSnapshot(&this->holder_, dir);
  EXPECT_TRUE(this->Get("/n").data_null);
  EXPECT_FALSE(this->Get("/e").data_null);
}

}  // namespace
}  // namespace synod::storage::testing
