// The ZooKeeper C client (libzookeeper_mt, unchanged) and the cluster
// behind Synod's ZooKeeper port: nodes and watches shared with the gRPC API,
// and a session that outlives the replica it was connected to (the handle
// moves to another replica in its host list by itself, its ephemeral stays
// and its watch still fires).
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/e2e/zk_c_client.h"

namespace synod::e2e {
namespace {

class ZkCCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    zk_ = new ZkCluster();
    ASSERT_NE(zk_->cluster(), nullptr) << "needs Synod replicas (unset SYNOD_ZK_REFERENCE)";
    ASSERT_TRUE(zk_->Start().ok());
  }
  static void TearDownTestSuite() {
    delete zk_;
    zk_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(zk_, nullptr); }

  static ZkCluster* zk_;
};

ZkCluster* ZkCCluster::zk_ = nullptr;

v1::ErrorCode DeleteNode(v1::Tree::Stub* tree, const std::string& path) {
  v1::DeleteRequest req;
  req.mutable_op()->set_path(path);
  v1::DeleteResponse resp;
  return CodeOf(tree->Delete(Ctx().get(), req, &resp), resp.header());
}

// A gRPC write, retried while the cluster has no leader (a replica was
// just killed), bounded in time.
v1::ErrorCode SetOverGrpc(TestCluster* cluster, const std::set<int>& among,
                          const std::string& path, const std::string& data) {
  const absl::Time deadline = absl::Now() + kZkWait;
  v1::ErrorCode code = v1::UNAVAILABLE;
  while (absl::Now() < deadline) {
    for (int id : among) {
      code = SetNode(cluster->tree(id), path, data, absl::Seconds(2));
      if (code != v1::NOT_LEADER && code != v1::UNAVAILABLE && code != v1::DEADLINE_EXCEEDED) {
        return code;
      }
    }
  }
  return code;
}

TEST_F(ZkCCluster, NodesAndWatchesSharedWithGrpc) {
  TestCluster* cluster = zk_->cluster();
  std::unique_ptr<ZkHandle> h = ConnectZk(zk_->hosts());
  ASSERT_NE(h, nullptr);
  // gRPC → ZooKeeper.
  ASSERT_EQ(CreateNode(cluster->tree(1), "/mixed-grpc", "from-grpc"), v1::OK);
  ASSERT_EQ(h->Sync("/mixed-grpc"), ZOK);
  Stat st{};
  EXPECT_EQ(ZkGet(h->get(), "/mixed-grpc", &st), "from-grpc");
  EXPECT_EQ(st.version, 0);
  // ZooKeeper → gRPC, on every replica.
  ASSERT_EQ(ZkCreate(h->get(), "/mixed-zk", "from-zk"), ZOK);
  for (int id = 1; id <= 3; ++id) {
    std::string data;
    EXPECT_EQ(GetNode(cluster->tree(id), "/mixed-zk", &data), v1::OK) << "member " << id;
    EXPECT_EQ(data, "from-zk") << "member " << id;
  }
  // A ZooKeeper data watch and child watch fire on gRPC writes made
  // through other replicas.
  ZkEventLog log;
  char buf[64];
  int len = sizeof(buf);
  ASSERT_EQ(zoo_wget(h->get(), "/mixed-grpc", RecordZkEvent, &log, buf, &len, &st), ZOK);
  String_vector kids{};
  ASSERT_EQ(zoo_wget_children(h->get(), "/mixed-grpc", RecordZkEvent, &log, &kids), ZOK);
  deallocate_String_vector(&kids);
  for (int id = 1; id <= 3; ++id) {
    ASSERT_EQ(SetNode(cluster->tree(id), "/mixed-grpc", "changed-" + std::to_string(id)), v1::OK);
  }
  EXPECT_TRUE(log.WaitForEvent(ZOO_CHANGED_EVENT, "/mixed-grpc", kZkWait));
  ASSERT_EQ(CreateNode(cluster->tree(2), "/mixed-grpc/kid", ""), v1::OK);
  EXPECT_TRUE(log.WaitForEvent(ZOO_CHILD_EVENT, "/mixed-grpc", kZkWait));
  ASSERT_EQ(h->Sync("/mixed-grpc"), ZOK);
  EXPECT_EQ(ZkGet(h->get(), "/mixed-grpc", &st), "changed-3");
  EXPECT_EQ(st.version, 3);
  EXPECT_EQ(st.numChildren, 1);
  EXPECT_EQ(log.events().size(), 2u);  // one-shot: one event each
}

TEST_F(ZkCCluster, SessionSurvivesTheKillOfItsReplica) {
  TestCluster* cluster = zk_->cluster();
  std::unique_ptr<ZkHandle> h = ConnectZk(zk_->hosts());
  ASSERT_NE(h, nullptr);
  const int64_t session = h->session_id();
  ASSERT_EQ(ZkCreate(h->get(), "/resume-eph", "mine", ZOO_EPHEMERAL), ZOK);
  ASSERT_EQ(ZkCreate(h->get(), "/resume-w", "0"), ZOK);
  ASSERT_EQ(ZkCreate(h->get(), "/resume-gone", "0"), ZOK);
  ASSERT_EQ(ZkCreate(h->get(), "/resume-kids"), ZOK);
  // A data watch, a data watch on a node to be deleted, an exists watch on
  // a node to be created and a child watch.
  ZkEventLog log;
  char buf[64];
  int len = sizeof(buf);
  Stat st{};
  ASSERT_EQ(zoo_wget(h->get(), "/resume-w", RecordZkEvent, &log, buf, &len, &st), ZOK);
  len = sizeof(buf);
  ASSERT_EQ(zoo_wget(h->get(), "/resume-gone", RecordZkEvent, &log, buf, &len, &st), ZOK);
  ASSERT_EQ(zoo_wexists(h->get(), "/resume-new", RecordZkEvent, &log, &st), ZNONODE);
  String_vector kids{};
  ASSERT_EQ(zoo_wget_children(h->get(), "/resume-kids", RecordZkEvent, &log, &kids), ZOK);
  deallocate_String_vector(&kids);

  const int victim = zk_->MemberOfPort(h->ConnectedPort());
  ASSERT_NE(victim, 0);
  std::set<int> others = {1, 2, 3};
  others.erase(victim);
  cluster->Kill(victim);
  // Written while the handle is away: its watches fire once it is back
  // (SetWatches from its last zxid) or live, never not at all.
  ASSERT_EQ(SetOverGrpc(cluster, others, "/resume-w", "1"), v1::OK);
  const int survivor = *others.begin();
  ASSERT_EQ(DeleteNode(cluster->tree(survivor), "/resume-gone"), v1::OK);
  ASSERT_EQ(CreateNode(cluster->tree(survivor), "/resume-new", ""), v1::OK);
  ASSERT_EQ(CreateNode(cluster->tree(survivor), "/resume-kids/k", ""), v1::OK);

  // The handle reconnects to another replica by itself, into its session.
  const absl::Time deadline = absl::Now() + kZkWait;
  int port = 0;
  while (absl::Now() < deadline) {
    port = h->ConnectedPort();
    if (zoo_state(h->get()) == ZOO_CONNECTED_STATE && others.contains(zk_->MemberOfPort(port))) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(others.contains(zk_->MemberOfPort(port))) << "still not on another replica";
  EXPECT_EQ(h->session_id(), session);
  EXPECT_TRUE(log.WaitForEvent(ZOO_CHANGED_EVENT, "/resume-w", kZkWait));
  EXPECT_TRUE(log.WaitForEvent(ZOO_DELETED_EVENT, "/resume-gone", kZkWait));
  EXPECT_TRUE(log.WaitForEvent(ZOO_CREATED_EVENT, "/resume-new", kZkWait));
  EXPECT_TRUE(log.WaitForEvent(ZOO_CHILD_EVENT, "/resume-kids", kZkWait));
  ASSERT_EQ(h->Sync("/"), ZOK);
  // Each once. (The C client also tells every watcher of session state
  // changes: those are not counted.)
  std::vector<std::string> node_events;
  for (const ZkEvent& e : log.events()) {
    if (e.type != ZOO_SESSION_EVENT) node_events.push_back(absl::StrCat(e.type, " ", e.path));
  }
  EXPECT_EQ(node_events.size(), 4u) << absl::StrJoin(node_events, "; ");
  ASSERT_EQ(h->Sync("/resume-eph"), ZOK);
  EXPECT_EQ(ZkGet(h->get(), "/resume-eph", &st), "mine");
  EXPECT_EQ(st.ephemeralOwner, session);
  // No expiry event reached the handle.
  for (const ZkEvent& e : h->session_events().events()) {
    EXPECT_NE(e.state, ZOO_EXPIRED_SESSION_STATE);
  }

  // Seen from another handle; gone at once when the session closes.
  std::unique_ptr<ZkHandle> other = ConnectZk(zk_->hosts());
  ASSERT_NE(other, nullptr);
  ASSERT_EQ(other->Sync("/resume-eph"), ZOK);
  EXPECT_EQ(zoo_exists(other->get(), "/resume-eph", 0, &st), ZOK);
  EXPECT_EQ(st.ephemeralOwner, session);
  h.reset();
  ASSERT_EQ(other->Sync("/resume-eph"), ZOK);
  EXPECT_EQ(zoo_exists(other->get(), "/resume-eph", 0, &st), ZNONODE);
}

}  // namespace
}  // namespace synod::e2e
