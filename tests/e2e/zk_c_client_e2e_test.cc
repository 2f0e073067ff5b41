// Synod's ZooKeeper port driven by the ZooKeeper 3.8 C client
// (libzookeeper_mt, unchanged) against three real replicas with --zk_addr:
// the synchronous and asynchronous APIs, the error codes a client can
// provoke, create modes (sequential, ephemeral, container, TTL), multi,
// ACLs and digest auth, data/child/exists watches, nodes and watches shared
// with the gRPC API, a session that survives the kill of its replica, and an
// oversized frame.
//
// SYNOD_ZK_REFERENCE=host:port runs the checks that need no Synod replica
// (ZkCApi.*) against that server instead, e.g. a ZooKeeper 3.8 started by
// hand, to confirm what they expect.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/zk_c_client.h"

namespace synod::e2e {
namespace {

// One cluster for the suite (one process: the tests share its start-up);
// each test works under a root of its own.
class ZkCApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    zk_ = new ZkCluster();
    ASSERT_TRUE(zk_->Start().ok());
  }
  static void TearDownTestSuite() {
    delete zk_;
    zk_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(zk_, nullptr);
    a_ = ConnectZk(zk_->hosts());
    ASSERT_NE(a_, nullptr);
    root_ = absl::StrCat("/c-", a_->session_id() & 0xffffff);
    ASSERT_EQ(ZkCreate(a_->get(), root_), ZOK);
  }

  static ZkCluster* zk_;
  std::unique_ptr<ZkHandle> a_;
  std::string root_;
};

ZkCluster* ZkCApi::zk_ = nullptr;

TEST_F(ZkCApi, SyncCallsStatsAndErrors) {
  zhandle_t* zh = a_->get();
  const std::string n = root_ + "/n";
  char name[256];
  ASSERT_EQ(zoo_create(zh, n.c_str(), "v1", 2, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, name,
                       sizeof(name)),
            ZOK);
  EXPECT_EQ(std::string(name), n);
  EXPECT_EQ(ZkCreate(zh, n), ZNODEEXISTS);
  Stat st{};
  EXPECT_EQ(ZkGet(zh, n, &st), "v1");
  EXPECT_EQ(st.version, 0);
  EXPECT_EQ(st.dataLength, 2);
  EXPECT_EQ(st.czxid, st.mzxid);
  EXPECT_EQ(st.ephemeralOwner, 0);
  // Null data (a null buffer, length -1) reads back as null, empty data as
  // empty, as on ZooKeeper.
  const std::string null_node = root_ + "/null";
  ASSERT_EQ(zoo_create(zh, null_node.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                       nullptr, 0),
            ZOK);
  char buf[16];
  int len = sizeof(buf);
  ASSERT_EQ(zoo_get(zh, null_node.c_str(), 0, buf, &len, nullptr), ZOK);
  EXPECT_EQ(len, -1);
  ASSERT_EQ(zoo_set(zh, null_node.c_str(), "", 0, -1), ZOK);
  len = sizeof(buf);
  ASSERT_EQ(zoo_get(zh, null_node.c_str(), 0, buf, &len, nullptr), ZOK);
  EXPECT_EQ(len, 0);
  ASSERT_EQ(zoo_set(zh, null_node.c_str(), nullptr, -1, -1), ZOK);
  len = sizeof(buf);
  ASSERT_EQ(zoo_get(zh, null_node.c_str(), 0, buf, &len, nullptr), ZOK);
  EXPECT_EQ(len, -1);
  EXPECT_EQ(zoo_set(zh, n.c_str(), "v2", 2, 0), ZOK);
  EXPECT_EQ(zoo_set(zh, n.c_str(), "v3", 2, 0), ZBADVERSION);
  // A version below -1 never matches: BadVersion (not a bad argument).
  EXPECT_EQ(zoo_set(zh, n.c_str(), "v3", 2, -2), ZBADVERSION);
  EXPECT_EQ(zoo_delete(zh, n.c_str(), -2), ZBADVERSION);
  ACL_vector open_acl = ZOO_OPEN_ACL_UNSAFE;
  EXPECT_EQ(zoo_set_acl(zh, n.c_str(), -2, &open_acl), ZBADVERSION);
  zoo_op_t check_op;
  zoo_op_result_t check_result;
  zoo_check_op_init(&check_op, n.c_str(), -2);
  EXPECT_EQ(zoo_multi(zh, 1, &check_op, &check_result), ZBADVERSION);
  EXPECT_EQ(check_result.err, ZBADVERSION);
  Stat set_st{};
  EXPECT_EQ(zoo_set2(zh, n.c_str(), "v3", 2, -1, &set_st), ZOK);
  EXPECT_EQ(set_st.version, 2);
  EXPECT_GT(set_st.mzxid, st.mzxid);
  EXPECT_EQ(zoo_exists(zh, n.c_str(), 0, &st), ZOK);
  EXPECT_EQ(st.version, 2);
  EXPECT_EQ(zoo_exists(zh, (root_ + "/missing").c_str(), 0, &st), ZNONODE);
  int rc = 0;
  ZkGet(zh, root_ + "/missing", nullptr, &rc);
  EXPECT_EQ(rc, ZNONODE);
  EXPECT_EQ(zoo_set(zh, (root_ + "/missing").c_str(), "x", 1, -1), ZNONODE);
  EXPECT_EQ(ZkCreate(zh, root_ + "/no/parent"), ZNONODE);

  // Children and the parent's stat (cversion, pzxid, numChildren).
  Stat child{};
  ASSERT_EQ(zoo_create2(zh, (n + "/c1").c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                        nullptr, 0, &child),
            ZOK);
  EXPECT_EQ(child.version, 0);
  String_vector kids{};
  Stat parent{};
  ASSERT_EQ(zoo_get_children2(zh, n.c_str(), 0, &kids, &parent), ZOK);
  ASSERT_EQ(kids.count, 1);
  EXPECT_EQ(std::string(kids.data[0]), "c1");
  deallocate_String_vector(&kids);
  EXPECT_EQ(parent.numChildren, 1);
  EXPECT_EQ(parent.cversion, 1);
  EXPECT_EQ(parent.pzxid, child.czxid);
  EXPECT_EQ(parent.version, 2);
  EXPECT_EQ(zoo_delete(zh, n.c_str(), -1), ZNOTEMPTY);
  EXPECT_EQ(zoo_delete(zh, (n + "/c1").c_str(), 5), ZBADVERSION);
  EXPECT_EQ(zoo_delete(zh, (n + "/c1").c_str(), 0), ZOK);
  ASSERT_EQ(zoo_get_children2(zh, n.c_str(), 0, &kids, &parent), ZOK);
  EXPECT_EQ(kids.count, 0);
  deallocate_String_vector(&kids);
  EXPECT_EQ(parent.cversion, 2);
  EXPECT_GT(parent.pzxid, child.czxid);
  EXPECT_EQ(zoo_delete(zh, n.c_str(), 2), ZOK);
  EXPECT_EQ(zoo_delete(zh, n.c_str(), -1), ZNONODE);
}

TEST_F(ZkCApi, CreateModes) {
  zhandle_t* zh = a_->get();
  char name[256];
  Stat st{};
  // Sequential: a 10-digit suffix from the parent's cversion.
  const std::string sq = root_ + "/sq";
  ASSERT_EQ(ZkCreate(zh, sq), ZOK);
  ASSERT_EQ(ZkCreate(zh, sq + "/x"), ZOK);
  ASSERT_EQ(zoo_create2(zh, (sq + "/s-").c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                        ZOO_PERSISTENT_SEQUENTIAL, name, sizeof(name), &st),
            ZOK);
  EXPECT_EQ(std::string(name), sq + "/s-0000000001");
  ASSERT_EQ(zoo_create2(zh, (sq + "/e-").c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                        ZOO_EPHEMERAL_SEQUENTIAL, name, sizeof(name), &st),
            ZOK);
  EXPECT_EQ(std::string(name), sq + "/e-0000000002");
  EXPECT_EQ(st.ephemeralOwner, a_->session_id());
  // A sequential path may end in '/': the suffix alone names the child.
  ASSERT_EQ(zoo_create(zh, (sq + "/").c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                       ZOO_PERSISTENT_SEQUENTIAL, name, sizeof(name)),
            ZOK);
  EXPECT_EQ(std::string(name), sq + "/0000000003");

  // Ephemeral: owned by the session, no children.
  const std::string eph = root_ + "/eph";
  ASSERT_EQ(zoo_create2(zh, eph.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, nullptr, 0,
                        &st),
            ZOK);
  EXPECT_EQ(st.ephemeralOwner, a_->session_id());
  EXPECT_EQ(ZkCreate(zh, eph + "/child"), ZNOCHILDRENFOREPHEMERALS);

  // Container and TTL nodes: ZooKeeper keeps its markers in ephemeralOwner
  // to itself (DataNode.getClientEphemeralOwner): clients see 0.
  const std::string box = root_ + "/box";
  ASSERT_EQ(zoo_create2(zh, box.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_CONTAINER, name,
                        sizeof(name), &st),
            ZOK);
  EXPECT_EQ(std::string(name), box);
  EXPECT_EQ(st.ephemeralOwner, 0);
  ASSERT_EQ(ZkCreate(zh, box + "/in"), ZOK);
  ASSERT_EQ(zoo_exists(zh, box.c_str(), 0, &st), ZOK);
  EXPECT_EQ(st.ephemeralOwner, 0);

  const std::string ttl = root_ + "/ttl";
  ASSERT_EQ(zoo_create2_ttl(zh, ttl.c_str(), "t", 1, &ZOO_OPEN_ACL_UNSAFE,
                            ZOO_PERSISTENT_WITH_TTL, 100000, name, sizeof(name), &st),
            ZOK);
  EXPECT_EQ(std::string(name), ttl);
  EXPECT_EQ(st.ephemeralOwner, 0);
  ASSERT_EQ(zoo_create2_ttl(zh, (ttl + "-").c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                            ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL, 5000, name, sizeof(name), &st),
            ZOK);
  EXPECT_EQ(st.ephemeralOwner, 0);
  EXPECT_EQ(std::string(name).substr(0, ttl.size() + 1), ttl + "-");
  // A TTL outside (0, 2^40) or with a mode that has none: BadArguments.
  EXPECT_EQ(zoo_create2_ttl(zh, (root_ + "/t0").c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                            ZOO_PERSISTENT_WITH_TTL, 0, nullptr, 0, &st),
            ZBADARGUMENTS);
  EXPECT_EQ(zoo_create2_ttl(zh, (root_ + "/t1").c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                            ZOO_PERSISTENT, 1000, nullptr, 0, &st),
            ZBADARGUMENTS);
  EXPECT_EQ(zoo_exists(zh, (root_ + "/t0").c_str(), 0, &st), ZNONODE);
  EXPECT_EQ(zoo_exists(zh, (root_ + "/t1").c_str(), 0, &st), ZNONODE);
  // A bad path never leaves the client.
  EXPECT_EQ(ZkCreate(zh, root_ + "//x"), ZBADARGUMENTS);
}

// The server removes a TTL node unchanged for its TTL, and a container
// whose last child went (ZooKeeper: within znode.container.checkIntervalMs).
TEST_F(ZkCApi, TtlNodeAndContainerGo) {
  zhandle_t* zh = a_->get();
  const std::string ttl = root_ + "/short-ttl";
  const std::string box = root_ + "/emptied-box";
  Stat st{};
  ASSERT_EQ(zoo_create2_ttl(zh, ttl.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                            ZOO_PERSISTENT_WITH_TTL, 200, nullptr, 0, &st),
            ZOK);
  ASSERT_EQ(ZkCreate(zh, box, "", ZOO_CONTAINER), ZOK);
  ASSERT_EQ(ZkCreate(zh, box + "/only"), ZOK);
  ZkEventLog log;
  ASSERT_EQ(zoo_wexists(zh, ttl.c_str(), RecordZkEvent, &log, &st), ZOK);
  ASSERT_EQ(zoo_wexists(zh, box.c_str(), RecordZkEvent, &log, &st), ZOK);
  ASSERT_EQ(zoo_delete(zh, (box + "/only").c_str(), -1), ZOK);
  EXPECT_TRUE(log.WaitForEvent(ZOO_DELETED_EVENT, ttl, kZkWait));
  EXPECT_TRUE(log.WaitForEvent(ZOO_DELETED_EVENT, box, kZkWait));
  EXPECT_EQ(zoo_exists(zh, ttl.c_str(), 0, &st), ZNONODE);
  EXPECT_EQ(zoo_exists(zh, box.c_str(), 0, &st), ZNONODE);
}

TEST_F(ZkCApi, Multi) {
  zhandle_t* zh = a_->get();
  const std::string m = root_ + "/m";
  ASSERT_EQ(ZkCreate(zh, m, "0"), ZOK);
  char created[256];
  Stat set_stat{};
  zoo_op_t ops[3];
  zoo_op_result_t results[3];
  const std::string m1 = root_ + "/m1";
  zoo_create_op_init(&ops[0], m1.c_str(), "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, created,
                     sizeof(created));
  zoo_check_op_init(&ops[1], m.c_str(), 7);
  zoo_set_op_init(&ops[2], m.c_str(), "1", 1, -1, &set_stat);
  // All or nothing: the op before the failure is rolled back (ZOK), the
  // failing one says why, the ones after are ZRUNTIMEINCONSISTENCY.
  EXPECT_EQ(zoo_multi(zh, 3, ops, results), ZBADVERSION);
  EXPECT_EQ(results[0].err, ZOK);
  EXPECT_EQ(results[1].err, ZBADVERSION);
  EXPECT_EQ(results[2].err, ZRUNTIMEINCONSISTENCY);
  Stat st{};
  EXPECT_EQ(zoo_exists(zh, m1.c_str(), 0, &st), ZNONODE);
  EXPECT_EQ(ZkGet(zh, m), "0");

  zoo_create_op_init(&ops[0], m1.c_str(), "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, created,
                     sizeof(created));
  zoo_check_op_init(&ops[1], m.c_str(), 0);
  zoo_set_op_init(&ops[2], m.c_str(), "1", 1, 0, &set_stat);
  ASSERT_EQ(zoo_multi(zh, 3, ops, results), ZOK);
  EXPECT_EQ(results[0].err, ZOK);
  EXPECT_EQ(std::string(created), m1);
  EXPECT_EQ(results[1].err, ZOK);
  EXPECT_EQ(results[2].err, ZOK);
  EXPECT_EQ(set_stat.version, 1);
  EXPECT_EQ(ZkGet(zh, m), "1");

  zoo_delete_op_init(&ops[0], m1.c_str(), 0);
  zoo_delete_op_init(&ops[1], m.c_str(), 1);
  ASSERT_EQ(zoo_multi(zh, 2, ops, results), ZOK);
  EXPECT_EQ(zoo_exists(zh, m.c_str(), 0, &st), ZNONODE);
}

TEST_F(ZkCApi, AclsAndDigestAuth) {
  std::unique_ptr<ZkHandle> alice = ConnectZk(zk_->hosts());
  std::unique_ptr<ZkHandle> other = ConnectZk(zk_->hosts());
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(other, nullptr);
  const std::string p = root_ + "/private";
  // "auth" stands for the caller's identities: none yet.
  EXPECT_EQ(ZkCreate(alice->get(), p, "", ZOO_PERSISTENT, &ZOO_CREATOR_ALL_ACL), ZINVALIDACL);
  ASSERT_EQ(alice->AddAuth("digest", "alice:secret"), ZOK);
  ASSERT_EQ(ZkCreate(alice->get(), p, "s", ZOO_PERSISTENT, &ZOO_CREATOR_ALL_ACL), ZOK);
  ACL_vector acl{};
  Stat st{};
  ASSERT_EQ(zoo_get_acl(alice->get(), p.c_str(), &acl, &st), ZOK);
  ASSERT_EQ(acl.count, 1);
  EXPECT_EQ(std::string(acl.data[0].id.scheme), "digest");
  // base64(sha1("alice:secret")), as ZooKeeper's DigestAuthenticationProvider.
  EXPECT_EQ(std::string(acl.data[0].id.id), "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=");
  EXPECT_EQ(acl.data[0].perms, ZOO_PERM_ALL);
  EXPECT_EQ(st.aversion, 0);
  deallocate_ACL_vector(&acl);

  ASSERT_EQ(other->Sync(p), ZOK);
  int rc = 0;
  ZkGet(other->get(), p, nullptr, &rc);
  EXPECT_EQ(rc, ZNOAUTH);
  EXPECT_EQ(zoo_set(other->get(), p.c_str(), "x", 1, -1), ZNOAUTH);
  EXPECT_EQ(ZkCreate(other->get(), p + "/c"), ZNOAUTH);
  EXPECT_EQ(zoo_get_acl(other->get(), p.c_str(), &acl, &st), ZNOAUTH);
  EXPECT_EQ(ZkGet(alice->get(), p), "s");

  // setACL: by aversion; an empty list is an invalid ACL.
  ACL read_all[] = {{ZOO_PERM_ALL, {const_cast<char*>("digest"),
                                    const_cast<char*>("alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=")}},
                    {ZOO_PERM_READ, {const_cast<char*>("world"), const_cast<char*>("anyone")}}};
  ACL_vector readable{2, read_all};
  EXPECT_EQ(zoo_set_acl(alice->get(), p.c_str(), 3, &readable), ZBADVERSION);
  ACL_vector empty{0, nullptr};
  EXPECT_EQ(zoo_set_acl(alice->get(), p.c_str(), -1, &empty), ZINVALIDACL);
  EXPECT_EQ(zoo_set_acl(other->get(), p.c_str(), -1, &readable), ZNOAUTH);
  ASSERT_EQ(zoo_set_acl(alice->get(), p.c_str(), 0, &readable), ZOK);
  ASSERT_EQ(zoo_exists(alice->get(), p.c_str(), 0, &st), ZOK);
  EXPECT_EQ(st.aversion, 1);
  ASSERT_EQ(other->Sync(p), ZOK);
  EXPECT_EQ(ZkGet(other->get(), p), "s");
  EXPECT_EQ(zoo_set(other->get(), p.c_str(), "x", 1, -1), ZNOAUTH);
  EXPECT_EQ(zoo_delete(alice->get(), p.c_str(), -1), ZOK);

  // Duplicate entries are dropped, the first of each kept in its place
  // (ZooKeeper's fixupACL), at create and at setACL.
  ACL twice[] = {read_all[1], read_all[0], read_all[1], read_all[0]};
  ACL_vector dup{4, twice};
  const std::string d = root_ + "/dup";
  ASSERT_EQ(ZkCreate(alice->get(), d, "", ZOO_PERSISTENT, &dup), ZOK);
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(zoo_get_acl(alice->get(), d.c_str(), &acl, &st), ZOK);
    ASSERT_EQ(acl.count, 2) << "round " << round;
    EXPECT_EQ(std::string(acl.data[0].id.scheme), "world");
    EXPECT_EQ(acl.data[0].perms, ZOO_PERM_READ);
    EXPECT_EQ(std::string(acl.data[1].id.scheme), "digest");
    deallocate_ACL_vector(&acl);
    ASSERT_EQ(zoo_set_acl(alice->get(), d.c_str(), -1, &dup), ZOK);
  }
}

TEST_F(ZkCApi, AsyncCompletionsInOrder) {
  zhandle_t* zh = a_->get();
  constexpr int kCount = 10;
  std::vector<ZkCompletion> created(kCount);
  auto on_create = [](int rc, const char* value, const void* data) {
    static_cast<ZkCompletion*>(const_cast<void*>(data))->Done(rc, value == nullptr ? "" : value);
  };
  for (int i = 0; i < kCount; ++i) {
    const std::string path = absl::StrCat(root_, "/a", i);
    ASSERT_EQ(zoo_acreate(zh, path.c_str(), "d", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                          on_create, &created[i]),
              ZOK);
  }
  // A duplicate, queued behind them: answered NodeExists.
  ZkCompletion dup;
  ASSERT_EQ(zoo_acreate(zh, (root_ + "/a0").c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                        ZOO_PERSISTENT, on_create, &dup),
            ZOK);
  std::vector<ZkCompletion> got(kCount);
  auto on_get = [](int rc, const char* value, int len, const Stat*, const void* data) {
    static_cast<ZkCompletion*>(const_cast<void*>(data))
        ->Done(rc, value == nullptr || len < 0 ? "" : std::string(value, len));
  };
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(zoo_aget(zh, absl::StrCat(root_, "/a", i).c_str(), 0, on_get, &got[i]), ZOK);
  }
  ZkCompletion missing;
  ASSERT_EQ(zoo_aget(zh, (root_ + "/none").c_str(), 0, on_get, &missing), ZOK);
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(created[i].Wait(kZkWait));
    EXPECT_EQ(created[i].rc(), ZOK);
    EXPECT_EQ(created[i].value(), absl::StrCat(root_, "/a", i));
  }
  ASSERT_TRUE(dup.Wait(kZkWait));
  EXPECT_EQ(dup.rc(), ZNODEEXISTS);
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(got[i].Wait(kZkWait));
    EXPECT_EQ(got[i].rc(), ZOK);
    EXPECT_EQ(got[i].value(), "d");
  }
  ASSERT_TRUE(missing.Wait(kZkWait));
  EXPECT_EQ(missing.rc(), ZNONODE);
}

TEST_F(ZkCApi, Watches) {
  std::unique_ptr<ZkHandle> b = ConnectZk(zk_->hosts());
  ASSERT_NE(b, nullptr);
  zhandle_t* zh = a_->get();
  const std::string w = root_ + "/w";
  ZkEventLog log;
  Stat st{};
  // exists on a missing node: fires on its creation.
  ASSERT_EQ(zoo_wexists(zh, w.c_str(), RecordZkEvent, &log, &st), ZNONODE);
  ASSERT_EQ(ZkCreate(b->get(), w, "0"), ZOK);
  EXPECT_TRUE(log.WaitForEvent(ZOO_CREATED_EVENT, w, kZkWait));
  // Data watch: fires once on a change, not on the next.
  char buf[16];
  int len = sizeof(buf);
  ASSERT_EQ(zoo_wget(zh, w.c_str(), RecordZkEvent, &log, buf, &len, &st), ZOK);
  ASSERT_EQ(zoo_set(b->get(), w.c_str(), "1", 1, -1), ZOK);
  EXPECT_TRUE(log.WaitForEvent(ZOO_CHANGED_EVENT, w, kZkWait));
  // Child watch: a create below fires it; the data watch set with it stays.
  String_vector kids{};
  ASSERT_EQ(zoo_wget_children(zh, w.c_str(), RecordZkEvent, &log, &kids), ZOK);
  deallocate_String_vector(&kids);
  len = sizeof(buf);
  ASSERT_EQ(zoo_wget(zh, w.c_str(), RecordZkEvent, &log, buf, &len, &st), ZOK);
  ASSERT_EQ(ZkCreate(b->get(), w + "/k"), ZOK);
  EXPECT_TRUE(log.WaitForEvent(ZOO_CHILD_EVENT, w, kZkWait));
  ASSERT_EQ(zoo_delete(b->get(), (w + "/k").c_str(), -1), ZOK);
  // Deleting the node fires the data watch as DELETED.
  ASSERT_EQ(zoo_delete(b->get(), w.c_str(), -1), ZOK);
  EXPECT_TRUE(log.WaitForEvent(ZOO_DELETED_EVENT, w, kZkWait));
  // One-shot: CREATED, CHANGED, CHILD, DELETED, each once (the second set
  // came after the first watch fired and set none).
  ASSERT_TRUE(a_->Sync(root_) == ZOK);
  std::vector<int> types;
  for (const ZkEvent& e : log.events()) types.push_back(e.type);
  EXPECT_EQ(types, (std::vector<int>{ZOO_CREATED_EVENT, ZOO_CHANGED_EVENT, ZOO_CHILD_EVENT,
                                     ZOO_DELETED_EVENT}));
  // Removing a watch that is not there: NoWatcher.
  EXPECT_EQ(zoo_remove_watches(zh, w.c_str(), ZWATCHTYPE_DATA, RecordZkEvent, &log, 0),
            ZNOWATCHER);
}

// A session id with a wrong password, or an id the cluster never gave: the
// handle is told its session expired.
TEST_F(ZkCApi, WrongPasswordOrUnknownSessionExpires) {
  clientid_t wrong = *zoo_client_id(a_->get());
  wrong.passwd[0] = static_cast<char>(wrong.passwd[0] ^ 1);
  clientid_t unknown = *zoo_client_id(a_->get());
  unknown.client_id ^= 0x5a5a5a;
  for (const clientid_t* id : {&wrong, &unknown}) {
    std::unique_ptr<ZkHandle> h = ZkHandle::Open(zk_->hosts(), 10000, id);
    ASSERT_NE(h, nullptr);
    EXPECT_TRUE(h->session_events().WaitFor(
        [](const std::vector<ZkEvent>& events) {
          for (const ZkEvent& e : events) {
            if (e.state == ZOO_EXPIRED_SESSION_STATE) return true;
          }
          return false;
        },
        kZkWait));
    EXPECT_EQ(zoo_state(h->get()), ZOO_EXPIRED_SESSION_STATE);
  }
  // The real session goes on.
  EXPECT_EQ(ZkCreate(a_->get(), root_ + "/after"), ZOK);
}

// Errors the server (not the client library) decides: deleting the root,
// reconfig, an unknown auth scheme.
TEST_F(ZkCApi, ServerSideRefusals) {
  EXPECT_EQ(zoo_delete(a_->get(), "/", -1), ZBADARGUMENTS);
  char buf[256];
  int len = sizeof(buf);
  Stat st{};
  // As ZooKeeper 3.8 with reconfigEnabled=false, its default (Synod's
  // membership changes go through its own API).
  EXPECT_EQ(zoo_reconfig(a_->get(), nullptr, "3", nullptr, -1, buf, &len, &st),
            ZRECONFIGDISABLED);
  std::unique_ptr<ZkHandle> h = ConnectZk(zk_->hosts());
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->AddAuth("kerberos", "x"), ZAUTHFAILED);
  EXPECT_TRUE(h->session_events().WaitFor(
      [&](const std::vector<ZkEvent>&) { return zoo_state(h->get()) == ZOO_AUTH_FAILED_STATE; },
      kZkWait) ||
              zoo_state(h->get()) == ZOO_AUTH_FAILED_STATE);
}

// A frame over ZooKeeper's jute.maxbuffer (1 MiB of data) closes that
// connection; the handle reconnects into the same session, and nothing
// changed.
TEST_F(ZkCApi, OversizedFrame) {
  const std::string big_path = root_ + "/big";
  ASSERT_EQ(ZkCreate(a_->get(), big_path, "small"), ZOK);
  std::unique_ptr<ZkHandle> b = ConnectZk(zk_->hosts());
  ASSERT_NE(b, nullptr);
  const int64_t session = b->session_id();
  const std::string big(2 << 20, 'x');
  EXPECT_EQ(zoo_set(b->get(), big_path.c_str(), big.data(), static_cast<int>(big.size()), -1),
            ZCONNECTIONLOSS);
  EXPECT_EQ(ZkGet(a_->get(), big_path), "small");
  ASSERT_TRUE(b->WaitConnected(kZkWait));
  EXPECT_EQ(b->session_id(), session);
  Stat st{};
  EXPECT_EQ(ZkGet(b->get(), big_path, &st), "small");
  EXPECT_EQ(st.version, 0);
}

}  // namespace
}  // namespace synod::e2e
