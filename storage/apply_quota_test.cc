// Subtree quotas and the per-session ephemeral limit in apply, over both
// backends: usage kept with every change (Dump checks it against the tree),
// creates and sets refused with QUOTA_EXCEEDED and nothing changed, multi
// rolled back, nested quotas, the commands' rules, and the quotas surviving
// a reopen, a snapshot and a restore.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/apply.h"
#include "storage/quota.h"
#include "storage/snapshot.h"
#include "storage/tree_test_util.h"
#include "tests/testing/temp_dir.h"

namespace synod::storage::testing {
namespace {

v1::Command QuotaSet(const std::string& path, int64_t max_nodes, int64_t max_bytes) {
  v1::Command c;
  c.mutable_quota_set()->set_path(path);
  c.mutable_quota_set()->set_max_nodes(max_nodes);
  c.mutable_quota_set()->set_max_bytes(max_bytes);
  return c;
}

v1::Command QuotaDelete(const std::string& path) {
  v1::Command c;
  c.mutable_quota_delete()->set_path(path);
  return c;
}

// A superuser user, so that auth can be enabled.
v1::Command RootUserPut() {
  v1::Command c;
  v1::UserPutCommand* put = c.mutable_user_put();
  put->mutable_user()->set_name("root");
  put->mutable_user()->set_salt("salt");
  put->mutable_user()->set_hash("hash");
  put->mutable_user()->set_iterations(1000);
  put->mutable_user()->set_superuser(true);
  put->set_create(true);
  put->set_token_key("k");
  return c;
}

template <typename Holder>
class QuotaApplyTest : public ::testing::Test {
 protected:
  v1::ErrorCode Code(const v1::Command& c) { return driver_.Apply(c).result.code(); }
  // The quota of `path` as the store holds it (fails the test if none).
  v1::Quota QuotaOf(const std::string& path) {
    const StoreMeta meta = holder_.store()->meta();
    if (meta.quotas != nullptr) {
      for (const v1::Quota& q : meta.quotas->quotas()) {
        if (q.path() == path) return q;
      }
    }
    ADD_FAILURE() << "no quota on " << path;
    return v1::Quota();
  }
  bool Exists(const std::string& path) {
    auto got = holder_.store()->Exists(path);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() && got->exists;
  }
  // The dump has no BROKEN line (quota usage and ephemeral counts agree
  // with the tree).
  void ExpectConsistent() {
    const std::string dump = Dump(holder_.store());
    EXPECT_EQ(dump.find("BROKEN"), std::string::npos) << dump;
  }

  Holder holder_;
  Driver driver_{holder_.store()};
};

TYPED_TEST_SUITE(QuotaApplyTest, StoreBackends, StoreBackendNames);

TYPED_TEST(QuotaApplyTest, NodeCountIsAHardLimit) {
  ASSERT_EQ(this->Code(CreateCmd("/app", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/app/a", "")), v1::OK);
  ASSERT_EQ(this->Code(QuotaSet("/app", 3, 0)), v1::OK);
  EXPECT_EQ(this->QuotaOf("/app").used_nodes(), 2);
  ASSERT_EQ(this->Code(CreateCmd("/app/b", "")), v1::OK);
  const std::string before = Dump(this->holder_.store());
  EXPECT_EQ(this->Code(CreateCmd("/app/c", "")), v1::QUOTA_EXCEEDED);
  EXPECT_EQ(this->Code(CreateCmd("/app/a/deep", "")), v1::QUOTA_EXCEEDED);
  EXPECT_EQ(this->Code(CreateCmd("/app/s-", "", v1::PERSISTENT_SEQUENTIAL)), v1::QUOTA_EXCEEDED);
  // Nothing changed but the applied index.
  const std::string after = Dump(this->holder_.store());
  EXPECT_EQ(after.substr(after.find('\n')), before.substr(before.find('\n')));
  // Outside the subtree: no limit. A delete frees room.
  EXPECT_EQ(this->Code(CreateCmd("/other", "")), v1::OK);
  ASSERT_EQ(this->Code(DeleteCmd("/app/a")), v1::OK);
  EXPECT_EQ(this->QuotaOf("/app").used_nodes(), 2);
  EXPECT_EQ(this->Code(CreateCmd("/app/c", "")), v1::OK);
  this->ExpectConsistent();
}

TYPED_TEST(QuotaApplyTest, BytesCountDataAndOnlyGrowthIsRefused) {
  ASSERT_EQ(this->Code(CreateCmd("/app", "1234")), v1::OK);
  ASSERT_EQ(this->Code(QuotaSet("/app", 0, 10)), v1::OK);
  EXPECT_EQ(this->QuotaOf("/app").used_bytes(), 4);
  ASSERT_EQ(this->Code(CreateCmd("/app/x", "123456")), v1::OK);
  EXPECT_EQ(this->Code(CreateCmd("/app/y", "1")), v1::QUOTA_EXCEEDED);
  EXPECT_EQ(this->Code(SetCmd("/app/x", "1234567")), v1::QUOTA_EXCEEDED);
  ASSERT_EQ(this->Code(SetCmd("/app/x", "12")), v1::OK);
  EXPECT_EQ(this->QuotaOf("/app").used_bytes(), 6);
  EXPECT_EQ(this->Code(CreateCmd("/app/y", "1234")), v1::OK);
  // A limit set below the usage stops growth and removes nothing; a
  // smaller value still fits.
  ASSERT_EQ(this->Code(QuotaSet("/app", 0, 5)), v1::OK);
  EXPECT_EQ(this->QuotaOf("/app").used_bytes(), 10);
  EXPECT_EQ(this->Code(SetCmd("/app/y", "12345")), v1::QUOTA_EXCEEDED);
  EXPECT_EQ(this->Code(SetCmd("/app/y", "1")), v1::OK);
  EXPECT_EQ(this->Code(CreateCmd("/app/empty", "")), v1::OK);  // 0 bytes: fits
  this->ExpectConsistent();
}

TYPED_TEST(QuotaApplyTest, AQuotaOnAMissingPathCountsWhatComes) {
  ASSERT_EQ(this->Code(QuotaSet("/later", 2, 0)), v1::OK);
  EXPECT_EQ(this->QuotaOf("/later").used_nodes(), 0);
  ASSERT_EQ(this->Code(CreateCmd("/later", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/later/a", "")), v1::OK);
  EXPECT_EQ(this->Code(CreateCmd("/later/b", "")), v1::QUOTA_EXCEEDED);
  // A sibling whose name extends the quota's is not under it.
  EXPECT_EQ(this->Code(CreateCmd("/later2", "")), v1::OK);
  EXPECT_EQ(this->QuotaOf("/later").used_nodes(), 2);
  this->ExpectConsistent();
}

TYPED_TEST(QuotaApplyTest, NestedQuotasAllHold) {
  ASSERT_EQ(this->Code(QuotaSet("/", 100, 0)), v1::OK);
  EXPECT_EQ(this->QuotaOf("/").used_nodes(), 1);  // the root itself
  ASSERT_EQ(this->Code(CreateCmd("/a", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/a/b", "")), v1::OK);
  ASSERT_EQ(this->Code(QuotaSet("/a", 5, 0)), v1::OK);
  ASSERT_EQ(this->Code(QuotaSet("/a/b", 2, 0)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/a/b/1", "")), v1::OK);
  EXPECT_EQ(this->Code(CreateCmd("/a/b/2", "")), v1::QUOTA_EXCEEDED);  // /a/b's
  ASSERT_EQ(this->Code(CreateCmd("/a/c", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/a/d", "")), v1::OK);
  EXPECT_EQ(this->Code(CreateCmd("/a/e", "")), v1::QUOTA_EXCEEDED);  // /a's
  EXPECT_EQ(this->QuotaOf("/").used_nodes(), 6);
  EXPECT_EQ(this->QuotaOf("/a").used_nodes(), 5);
  EXPECT_EQ(this->QuotaOf("/a/b").used_nodes(), 2);
  // Without the inner quota, the outer one still binds.
  ASSERT_EQ(this->Code(QuotaDelete("/a/b")), v1::OK);
  EXPECT_EQ(this->Code(CreateCmd("/a/b/2", "")), v1::QUOTA_EXCEEDED);
  this->ExpectConsistent();
}

TYPED_TEST(QuotaApplyTest, AMultiSeesItsOwnUsageAndRollsBack) {
  ASSERT_EQ(this->Code(CreateCmd("/q", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/q/old", "")), v1::OK);
  ASSERT_EQ(this->Code(QuotaSet("/q", 3, 0)), v1::OK);
  const std::string before = Dump(this->holder_.store());
  EntryOutcome refused = this->driver_.Apply(
      MultiCmd({CreateOp("/q/a", ""), CreateOp("/q/b", ""), CreateOp("/elsewhere", "")}));
  EXPECT_EQ(refused.result.code(), v1::QUOTA_EXCEEDED);
  ASSERT_EQ(refused.result.results_size(), 3);
  EXPECT_EQ(refused.result.results(0).code(), v1::ROLLED_BACK);
  EXPECT_EQ(refused.result.results(1).code(), v1::QUOTA_EXCEEDED);
  const std::string after = Dump(this->holder_.store());
  EXPECT_EQ(after.substr(after.find('\n')), before.substr(before.find('\n')));
  EXPECT_EQ(this->QuotaOf("/q").used_nodes(), 2);
  // A delete earlier in the multi makes room for a later create.
  EXPECT_EQ(this->Code(MultiCmd({DeleteOp("/q/old"), CreateOp("/q/a", ""), CreateOp("/q/b", "")})),
            v1::OK);
  EXPECT_EQ(this->QuotaOf("/q").used_nodes(), 3);
  this->ExpectConsistent();
}

TYPED_TEST(QuotaApplyTest, CommandsCheckTheirInputAndCaller) {
  EXPECT_EQ(this->Code(QuotaSet("bad", 1, 0)), v1::INVALID_PATH);
  EXPECT_EQ(this->Code(QuotaSet("/x/", 1, 0)), v1::INVALID_PATH);
  EXPECT_EQ(this->Code(QuotaSet("/x", -1, 0)), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Code(QuotaSet("/x", 0, -5)), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Code(QuotaSet("/x", 0, 0)), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Code(QuotaDelete("/x")), v1::NO_NODE);
  EXPECT_EQ(this->Code(QuotaDelete("x")), v1::INVALID_PATH);
  EXPECT_EQ(this->holder_.store()->meta().quotas, nullptr);
  // A second set replaces the limits and keeps the usage.
  ASSERT_EQ(this->Code(CreateCmd("/x", "ab")), v1::OK);
  ASSERT_EQ(this->Code(QuotaSet("/x", 7, 0)), v1::OK);
  ASSERT_EQ(this->Code(QuotaSet("/x", 0, 9)), v1::OK);
  EXPECT_EQ(this->QuotaOf("/x").max_nodes(), 0);
  EXPECT_EQ(this->QuotaOf("/x").max_bytes(), 9);
  EXPECT_EQ(this->QuotaOf("/x").used_bytes(), 2);

  // While auth is enabled only the superuser changes quotas.
  ASSERT_EQ(this->Code(RootUserPut()), v1::OK);
  v1::Command enable;
  enable.mutable_auth_set()->set_enabled(true);
  enable.mutable_auth_set()->set_token_key("k");
  ASSERT_EQ(this->Code(enable), v1::OK);
  v1::Caller alice;
  alice.add_ids()->set_scheme("user");
  alice.mutable_ids(0)->set_id("alice");
  v1::Command by_alice = QuotaSet("/y", 1, 0);
  *by_alice.mutable_caller() = alice;
  EXPECT_EQ(this->Code(by_alice), v1::PERMISSION_DENIED);
  v1::Command delete_by_alice = QuotaDelete("/x");
  *delete_by_alice.mutable_caller() = alice;
  EXPECT_EQ(this->Code(delete_by_alice), v1::PERMISSION_DENIED);
  v1::Command by_super = QuotaDelete("/x");
  by_super.mutable_caller()->set_superuser(true);
  EXPECT_EQ(this->Code(by_super), v1::OK);
  EXPECT_EQ(this->holder_.store()->meta().quotas, nullptr);  // the last one went
}

TYPED_TEST(QuotaApplyTest, AtMostAThousandQuotas) {
  std::vector<v1::Command> batch;
  for (int i = 0; i < kMaxQuotas; ++i) batch.push_back(QuotaSet("/q" + std::to_string(i), 1, 0));
  for (const EntryOutcome& out : this->driver_.ApplyBatch(batch)) {
    ASSERT_EQ(out.result.code(), v1::OK);
  }
  EXPECT_EQ(this->Code(QuotaSet("/one-more", 1, 0)), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Code(QuotaSet("/q7", 2, 0)), v1::OK);  // changes still work
  EXPECT_EQ(this->holder_.store()->meta().quotas->quotas_size(), kMaxQuotas);
}

TYPED_TEST(QuotaApplyTest, EphemeralsPerSessionAreLimited) {
  v1::ClusterSettings settings;
  settings.set_max_ephemerals_per_session(2);
  ASSERT_EQ(this->Code(SettingsCmd(settings)), v1::OK);
  const uint64_t s1 = this->driver_.Apply(OpenSessionCmd()).result.session_id();
  const uint64_t s2 = this->driver_.Apply(OpenSessionCmd()).result.session_id();
  ASSERT_EQ(this->Code(CreateCmd("/e1", "", v1::EPHEMERAL, 0, s1)), v1::OK);
  // Through an exactly-once write too: its stored result must not undo the
  // count.
  ASSERT_EQ(this->Code(WithSession(CreateCmd("/e2", "", v1::EPHEMERAL), s1, 1)), v1::OK);
  this->ExpectConsistent();
  EXPECT_EQ(this->Code(CreateCmd("/e3", "", v1::EPHEMERAL_SEQUENTIAL, 0, s1)),
            v1::QUOTA_EXCEEDED);
  EXPECT_FALSE(this->Exists("/e3"));
  // Persistent nodes and other sessions are not counted against it.
  EXPECT_EQ(this->Code(CreateCmd("/p", "", v1::PERSISTENT, 0, s1)), v1::OK);
  EXPECT_EQ(this->Code(CreateCmd("/f1", "", v1::EPHEMERAL, 0, s2)), v1::OK);
  ASSERT_EQ(this->Code(DeleteCmd("/e1")), v1::OK);
  EXPECT_EQ(this->Code(CreateCmd("/e3", "", v1::EPHEMERAL, 0, s1)), v1::OK);
  this->ExpectConsistent();
  // Closing the session removes its ephemerals; the count goes with it.
  ASSERT_EQ(this->Code(CloseSessionCmd(s1)), v1::OK);
  EXPECT_FALSE(this->Exists("/e2"));
  this->ExpectConsistent();
}

TYPED_TEST(QuotaApplyTest, SurvivesReopenSnapshotAndRestore) {
  ASSERT_EQ(this->Code(CreateCmd("/a", "xyz")), v1::OK);
  ASSERT_EQ(this->Code(QuotaSet("/a", 10, 100)), v1::OK);
  ASSERT_EQ(this->Code(QuotaSet("/b", 1, 0)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/a/x", "12")), v1::OK);
  const uint64_t session = this->driver_.Apply(OpenSessionCmd()).result.session_id();
  ASSERT_EQ(this->Code(CreateCmd("/a/e", "", v1::EPHEMERAL, 0, session)), v1::OK);
  const std::string dump = Dump(this->holder_.store());
  ASSERT_NE(dump.find("used_nodes: 3 used_bytes: 5"), std::string::npos) << dump;
  ASSERT_NE(dump.find("ephemerals=1"), std::string::npos) << dump;
  synod::testing::TempDir dir("synod-quota-snap-");
  ExpectStateSurvivesReopenAndSnapshot(&this->holder_, dir);

  // A restore replaces the quotas, down to none.
  TypeParam fresh;
  ASSERT_TRUE(fresh.store()->WriteSnapshot(dir.Sub("empty")).ok());
  RocksHolder rocks;
  ASSERT_TRUE(rocks.store()->RestoreSnapshot(dir.Sub("snap")).ok());
  ASSERT_NE(rocks.store()->meta().quotas, nullptr);
  ASSERT_TRUE(rocks.store()->RestoreSnapshot(dir.Sub("empty")).ok());
  EXPECT_EQ(rocks.store()->meta().quotas, nullptr);
  rocks.Reopen();
  EXPECT_EQ(rocks.store()->meta().quotas, nullptr);
}

}  // namespace
}  // namespace synod::storage::testing
