// Subtree quotas and the per-session ephemeral limit on three real
// replicas: set with synodctl, enforced on writes sent to any replica
// (QUOTA_EXCEEDED, nothing changed), the same usage on every replica,
// kept across a replica's restart, and removed again; the ephemeral limit
// changed through `settings set` and enforced on a client library session.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "synod/client.h"
#include "tests/e2e/synodctl_run.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod::e2e {
namespace {

using ::synod::testing::TempDir;
using ::synod::testing::WaitUntil;

// The quota of `path` as member `id` applied it, "" if none: "USED/MAX
// nodes, USED/MAX bytes".
std::string QuotaOn(TestCluster& c, int id, const std::string& path) {
  v1::QuotaGetRequest req;
  req.mutable_read()->set_consistency(v1::SERIALIZABLE);
  req.set_path(path);
  v1::QuotaGetResponse resp;
  grpc::Status s = c.cluster(id)->QuotaGet(Ctx().get(), req, &resp);
  if (!s.ok() || resp.quotas_size() != 1) return "";
  const v1::Quota& q = resp.quotas(0);
  return absl::StrCat(q.used_nodes(), "/", q.max_nodes(), " nodes, ", q.used_bytes(), "/",
                      q.max_bytes(), " bytes");
}

// True once every member reports `want` for `path`'s quota.
bool AllReport(TestCluster& c, const std::string& path, const std::string& want) {
  return WaitUntil(
      [&] {
        for (int id = 1; id <= c.size(); ++id) {
          if (QuotaOn(c, id, path) != want) return false;
        }
        return true;
      },
      absl::Seconds(20));
}

class QuotaE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestCluster::Options o;
    o.size = 3;
    cluster_ = std::make_unique<TestCluster>(o);
    ASSERT_TRUE(cluster_->StartAll().ok());
    ASSERT_NE(cluster_->WaitForLeader(absl::Seconds(20)), 0);
  }
  // synodctl against member `id`.
  CtlRun Ctl(int id, std::vector<std::string> args) {
    args.insert(args.begin(),
                {absl::StrCat("--endpoints=", cluster_->client_addr(id)), "--timeout=10s"});
    return RunSynodctl(args, dir_.Sub(absl::StrCat("ctl-", ++runs_)));
  }
  std::unique_ptr<Client> Connect(int id) {
    Client::Options co;
    co.endpoints = {cluster_->client_addr(id)};
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(co);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  TempDir dir_{"synod-quota-e2e-"};
  std::unique_ptr<TestCluster> cluster_;
  int runs_ = 0;
};

TEST_F(QuotaE2ETest, SubtreeQuotaThroughSynodctl) {
  TestCluster& c = *cluster_;
  CtlRun made = Ctl(1, {"create", "/app", "1234"});
  ASSERT_EQ(made.status, "exit 0") << made.output;
  CtlRun set = Ctl(2, {"quota", "set", "/app", "--max_nodes=3", "--max_bytes=10"});
  ASSERT_EQ(set.status, "exit 0") << set.output;
  ASSERT_TRUE(AllReport(c, "/app", "1/3 nodes, 4/10 bytes"));

  // Writes through every replica meet the same limit.
  EXPECT_EQ(Ctl(1, {"create", "/app/a", "12"}).status, "exit 0");
  CtlRun too_big = Ctl(2, {"create", "/app/b", "12345"});
  EXPECT_NE(too_big.status, "exit 0");
  EXPECT_TRUE(absl::StrContains(too_big.output, "QUOTA_EXCEEDED")) << too_big.output;
  EXPECT_EQ(Ctl(3, {"create", "/app/b", "1"}).status, "exit 0");
  CtlRun too_many = Ctl(3, {"create", "/app/c", ""});
  EXPECT_TRUE(absl::StrContains(too_many.output, "QUOTA_EXCEEDED")) << too_many.output;
  CtlRun set_big = Ctl(1, {"set", "/app/a", "123456"});
  EXPECT_TRUE(absl::StrContains(set_big.output, "QUOTA_EXCEEDED")) << set_big.output;
  EXPECT_TRUE(absl::StrContains(Ctl(1, {"get", "/app/a"}).output, "12"));
  ASSERT_TRUE(AllReport(c, "/app", "3/3 nodes, 7/10 bytes"));

  CtlRun get = Ctl(2, {"quota", "get"});
  EXPECT_EQ(get.status, "exit 0") << get.output;
  EXPECT_TRUE(absl::StrContains(get.output, "/app nodes 3/3 bytes 7/10")) << get.output;
  CtlRun json = Ctl(2, {"-o", "json", "quota", "get", "/app"});
  EXPECT_TRUE(absl::StrContains(json.output, "\"used_nodes\":3")) << json.output;

  // Bad input: typed errors, nothing changed.
  CtlRun no_limit = Ctl(1, {"quota", "set", "/app"});
  EXPECT_NE(no_limit.status, "exit 0");
  EXPECT_TRUE(absl::StrContains(no_limit.output, "--max_nodes")) << no_limit.output;
  CtlRun bad_path = Ctl(1, {"quota", "set", "app", "--max_nodes=1"});
  EXPECT_TRUE(absl::StrContains(bad_path.output, "INVALID_PATH")) << bad_path.output;
  CtlRun none = Ctl(1, {"quota", "delete", "/nothing"});
  EXPECT_TRUE(absl::StrContains(none.output, "NO_NODE")) << none.output;
  CtlRun none_get = Ctl(1, {"quota", "get", "/nothing"});
  EXPECT_TRUE(absl::StrContains(none_get.output, "NO_NODE")) << none_get.output;

  // A restarted replica has the quota and its usage from its own state.
  EXPECT_EQ(c.Stop(3), "exit 0");
  ASSERT_TRUE(c.Start(3).ok());
  ASSERT_TRUE(AllReport(c, "/app", "3/3 nodes, 7/10 bytes"));

  // Deleting a node frees room; deleting the quota lifts it.
  EXPECT_EQ(Ctl(2, {"delete", "/app/b"}).status, "exit 0");
  EXPECT_EQ(Ctl(2, {"create", "/app/c", ""}).status, "exit 0");
  EXPECT_EQ(Ctl(3, {"quota", "delete", "/app"}).status, "exit 0");
  ASSERT_TRUE(AllReport(c, "/app", ""));
  EXPECT_EQ(Ctl(1, {"create", "/app/d", "0123456789abcdef"}).status, "exit 0");
}

TEST_F(QuotaE2ETest, EphemeralsPerSessionThroughTheClientLibrary) {
  CtlRun set = Ctl(1, {"settings", "set", "--max_ephemerals_per_session=2"});
  ASSERT_EQ(set.status, "exit 0") << set.output;
  EXPECT_TRUE(absl::StrContains(set.output, "max_ephemerals_per_session 2")) << set.output;
  std::unique_ptr<Client> client = Connect(2);
  ASSERT_NE(client, nullptr);
  CreateOptions ephemeral;
  ephemeral.mode = CreateMode::kEphemeral;
  ASSERT_TRUE(client->Create("/e1", "", ephemeral).ok());
  ASSERT_TRUE(client->Create("/e2", "", ephemeral).ok());
  absl::StatusOr<CreateResult> third = client->Create("/e3", "", ephemeral);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(ErrorCodeOf(third.status()), ErrorCode::kQuotaExceeded) << third.status();
  EXPECT_FALSE(client->Exists("/e3")->exists);
  // Another session has its own allowance.
  std::unique_ptr<Client> other = Connect(3);
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(other->Create("/f1", "", ephemeral).ok());
  // A delete makes room.
  ASSERT_TRUE(client->Delete("/e1").ok());
  EXPECT_TRUE(client->Create("/e3", "", ephemeral).ok());
}

}  // namespace
}  // namespace synod::e2e
