// The tree's semantics, one typed suite over both backends.
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/path.h"
#include "storage/tree_test_util.h"

namespace synod::storage::testing {
namespace {

using ::testing::ElementsAre;

template <typename Holder>
class TreeStoreTest : public ::testing::Test {
 protected:
  TreeStoreTest() : driver_(holder_.store(), Limits()) {}
  static ApplyLimits Limits() {
    ApplyLimits limits;
    limits.max_data_bytes = 1024;
    limits.max_multi_ops = 8;
    limits.history_per_node = 4;
    limits.purge_per_compaction = 4;
    return limits;
  }

  TreeStore* store() { return holder_.store(); }
  EntryOutcome Apply(const v1::Command& c) { return driver_.Apply(c); }
  v1::ErrorCode Code(const v1::Command& c) { return Apply(c).result.code(); }
  NodeResult Get(const std::string& path) {
    auto r = store()->Get(path);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : NodeResult{};
  }
  std::vector<std::string> Children(const std::string& path) {
    auto r = store()->GetChildren(path, "", 0, false);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->names : std::vector<std::string>{};
  }
  // The dump without its meta line, for "nothing changed" checks (a refused
  // command still advances the applied index).
  std::string State() {
    std::string dump = Dump(store());
    return dump.substr(dump.find('\n') + 1);
  }
  uint64_t OpenSession() { return Apply(OpenSessionCmd()).result.session_id(); }

  Holder holder_{Limits().history_per_node};
  Driver driver_;
};

TYPED_TEST_SUITE(TreeStoreTest, StoreBackends, StoreBackendNames);

TYPED_TEST(TreeStoreTest, FreshStoreHasOnlyTheRoot) {
  NodeResult root = this->Get("/");
  EXPECT_EQ(root.code, v1::OK);
  EXPECT_EQ(root.stat, NodeStat{});
  EXPECT_EQ(root.revision, 0u);
  EXPECT_TRUE(this->Children("/").empty());
  EXPECT_EQ(this->store()->meta().digest, RecomputeDigest(this->store()));
  EXPECT_EQ(this->Code(DeleteCmd("/")), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Code(CreateCmd("/", "")), v1::NODE_EXISTS);
}

TYPED_TEST(TreeStoreTest, CreateSetsStatAndParent) {
  EntryOutcome out = this->Apply(CreateCmd("/a", "hello", v1::PERSISTENT, 0, 0, 1234));
  ASSERT_EQ(out.result.code(), v1::OK);
  ASSERT_EQ(out.result.results_size(), 1);
  EXPECT_EQ(out.result.results(0).path(), "/a");
  const uint64_t rev = out.index;
  NodeResult a = this->Get("/a");
  EXPECT_EQ(a.data, "hello");
  EXPECT_EQ(a.revision, rev);
  EXPECT_EQ(a.stat.czxid, rev);
  EXPECT_EQ(a.stat.mzxid, rev);
  EXPECT_EQ(a.stat.pzxid, rev);
  EXPECT_EQ(a.stat.ctime, 1234);
  EXPECT_EQ(a.stat.mtime, 1234);
  EXPECT_EQ(a.stat.version, 0);
  EXPECT_EQ(a.stat.cversion, 0);
  EXPECT_EQ(a.stat.aversion, 0);
  EXPECT_EQ(a.stat.ephemeral_owner, 0u);
  EXPECT_EQ(a.stat.data_length, 5);
  EXPECT_EQ(a.stat.num_children, 0);
  EXPECT_EQ(out.result.results(0).stat().SerializeAsString(), ToProto(a.stat).SerializeAsString());
  NodeResult root = this->Get("/");
  EXPECT_EQ(root.stat.cversion, 1);
  EXPECT_EQ(root.stat.pzxid, rev);
  EXPECT_EQ(root.stat.num_children, 1);
  EXPECT_EQ(root.stat.mzxid, 0u);  // a child is not a data change
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].type(), v1::EVENT_NODE_CREATED);
  EXPECT_EQ(out.events[0].path(), "/a");
  EXPECT_EQ(out.events[0].revision(), rev);
  EXPECT_EQ(out.events[0].stat().version(), 0);
  EXPECT_EQ(out.events[1].type(), v1::EVENT_NODE_CHILDREN_CHANGED);
  EXPECT_EQ(out.events[1].path(), "/");
  EXPECT_EQ(out.events[1].stat().num_children(), 1);
  EXPECT_EQ(this->store()->meta().digest, RecomputeDigest(this->store()));
}

TYPED_TEST(TreeStoreTest, CreateErrorsChangeNothing) {
  ASSERT_EQ(this->Code(CreateCmd("/a", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/eph", "", v1::EPHEMERAL, 0, this->OpenSession())), v1::OK);
  const std::string before = this->State();
  EXPECT_EQ(this->Code(CreateCmd("/a", "")), v1::NODE_EXISTS);
  EXPECT_EQ(this->Code(CreateCmd("/missing/b", "")), v1::NO_NODE);
  EXPECT_EQ(this->Code(CreateCmd("/eph/child", "")), v1::NO_CHILDREN_FOR_EPHEMERALS);
  for (const char* bad : {"", "a", "/a/", "//a", "/a//b", "/a/./b", "/a/..", "/a\nb", "/a\x7f"}) {
    EXPECT_EQ(this->Code(CreateCmd(bad, "")), v1::INVALID_PATH) << bad;
  }
  EXPECT_EQ(this->Code(CreateCmd(std::string("/a\0b", 4), "")), v1::INVALID_PATH);
  EXPECT_EQ(this->Code(CreateCmd("/" + std::string(kMaxPathBytes, 'x'), "")), v1::INVALID_PATH);
  // ZooKeeper's own subtree (served by the ZooKeeper port) is reserved.
  for (const char* reserved : {"/zookeeper", "/zookeeper/quota", "/zookeeper/x"}) {
    EXPECT_EQ(this->Code(CreateCmd(reserved, "")), v1::INVALID_PATH) << reserved;
  }
  EXPECT_EQ(this->Code(CreateCmd("/zookeeper/s-", "", v1::PERSISTENT_SEQUENTIAL)),
            v1::INVALID_PATH);
  EXPECT_EQ(this->Code(CreateCmd("/big", std::string(1025, 'x'))), v1::TOO_LARGE);
  EXPECT_EQ(this->Code(CreateCmd("/ttl", "", v1::PERSISTENT_WITH_TTL, 0)), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Code(CreateCmd("/ttl", "", v1::PERSISTENT_WITH_TTL, -5)), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Code(CreateCmd("/p", "", v1::PERSISTENT, 100)), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Code(CreateCmd("/p", "", static_cast<v1::CreateMode>(42))), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Code(CreateCmd("/e", "", v1::EPHEMERAL)), v1::EPHEMERAL_NEEDS_SESSION);
  EXPECT_EQ(this->Code(CreateCmd("/e", "", v1::EPHEMERAL, 0, 999999)), v1::SESSION_EXPIRED);
  EXPECT_EQ(this->State(), before);
  // Exactly the limit is fine.
  EXPECT_EQ(this->Code(CreateCmd("/max", std::string(1024, 'x'))), v1::OK);
  // A sequential node next to /zookeeper is an ordinary one.
  EXPECT_EQ(this->Code(CreateCmd("/zookeeper", "", v1::PERSISTENT_SEQUENTIAL)), v1::OK);
}

TYPED_TEST(TreeStoreTest, SetBumpsVersionEvenWithSameData) {
  ASSERT_EQ(this->Code(CreateCmd("/a", "x")), v1::OK);
  EntryOutcome out = this->Apply(SetCmd("/a", "x", -1, 5000));
  ASSERT_EQ(out.result.code(), v1::OK);
  NodeResult a = this->Get("/a");
  EXPECT_EQ(a.stat.version, 1);
  EXPECT_EQ(a.stat.mzxid, out.index);
  EXPECT_EQ(a.stat.mtime, 5000);
  EXPECT_LT(a.stat.czxid, out.index);
  EXPECT_EQ(out.result.results(0).stat().version(), 1);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].type(), v1::EVENT_NODE_DATA_CHANGED);
  EXPECT_EQ(this->Code(SetCmd("/a", "y", 1)), v1::OK);
  EXPECT_EQ(this->Get("/a").stat.version, 2);
  EXPECT_EQ(this->Get("/a").data, "y");
  const std::string before = this->State();
  EXPECT_EQ(this->Code(SetCmd("/a", "z", 1)), v1::BAD_VERSION);
  EXPECT_EQ(this->Code(SetCmd("/a", "z", -2)), v1::BAD_VERSION);
  EXPECT_EQ(this->Code(SetCmd("/nope", "z")), v1::NO_NODE);
  EXPECT_EQ(this->Code(SetCmd("/a/", "z")), v1::INVALID_PATH);
  EXPECT_EQ(this->Code(SetCmd("/a", std::string(1025, 'z'))), v1::TOO_LARGE);
  EXPECT_EQ(this->State(), before);
  // The root's data can be set.
  EXPECT_EQ(this->Code(SetCmd("/", "root")), v1::OK);
  EXPECT_EQ(this->Get("/").data, "root");
  EXPECT_EQ(this->store()->meta().digest, RecomputeDigest(this->store()));
}

TYPED_TEST(TreeStoreTest, DeleteRules) {
  ASSERT_EQ(this->Code(CreateCmd("/a", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/a/b", "")), v1::OK);
  const std::string before = this->State();
  EXPECT_EQ(this->Code(DeleteCmd("/a")), v1::NOT_EMPTY);
  EXPECT_EQ(this->Code(DeleteCmd("/a/b", 3)), v1::BAD_VERSION);
  EXPECT_EQ(this->Code(DeleteCmd("/a/c")), v1::NO_NODE);
  EXPECT_EQ(this->Code(DeleteCmd("/a/b/")), v1::INVALID_PATH);
  EXPECT_EQ(this->State(), before);
  EntryOutcome out = this->Apply(DeleteCmd("/a/b", 0));
  ASSERT_EQ(out.result.code(), v1::OK);
  NodeResult a = this->Get("/a");
  EXPECT_EQ(a.stat.cversion, 2);
  EXPECT_EQ(a.stat.pzxid, out.index);
  EXPECT_EQ(a.stat.num_children, 0);
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].type(), v1::EVENT_NODE_DELETED);
  EXPECT_EQ(out.events[0].path(), "/a/b");
  EXPECT_FALSE(out.events[0].has_stat());
  EXPECT_EQ(out.events[1].type(), v1::EVENT_NODE_CHILDREN_CHANGED);
  EXPECT_EQ(out.events[1].path(), "/a");
  EXPECT_EQ(this->Get("/a/b").code, v1::NO_NODE);
  EXPECT_EQ(this->Code(DeleteCmd("/a")), v1::OK);
  EXPECT_TRUE(this->Children("/").empty());
  EXPECT_EQ(this->store()->meta().digest, RecomputeDigest(this->store()));
}

TYPED_TEST(TreeStoreTest, ExistsAndGetErrors) {
  ASSERT_EQ(this->Code(CreateCmd("/a", "")), v1::OK);
  auto e = this->store()->Exists("/a");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->exists);
  EXPECT_EQ(e->code, v1::OK);
  e = this->store()->Exists("/b");
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->exists);
  EXPECT_EQ(e->code, v1::OK);
  EXPECT_EQ(this->store()->Exists("b")->code, v1::INVALID_PATH);
  EXPECT_EQ(this->Get("/b").code, v1::NO_NODE);
  EXPECT_EQ(this->Get("/b/").code, v1::INVALID_PATH);
  EXPECT_EQ(this->store()->GetChildren("/b", "", 0, false)->code, v1::NO_NODE);
  EXPECT_EQ(this->store()->GetChildren("b", "", 0, false)->code, v1::INVALID_PATH);
}

TYPED_TEST(TreeStoreTest, MultiIsAllOrNothing) {
  ASSERT_EQ(this->Code(CreateCmd("/a", "1")), v1::OK);
  const std::string before = this->State();
  EntryOutcome out = this->Apply(MultiCmd({CreateOp("/b", ""), SetOp("/a", "2"), CheckOp("/a", 7),
                                           DeleteOp("/a"), CreateOp("/c", "")}));
  EXPECT_EQ(out.result.code(), v1::BAD_VERSION);
  ASSERT_EQ(out.result.results_size(), 5);
  EXPECT_EQ(out.result.results(0).code(), v1::ROLLED_BACK);
  EXPECT_EQ(out.result.results(1).code(), v1::ROLLED_BACK);
  EXPECT_EQ(out.result.results(2).code(), v1::BAD_VERSION);
  EXPECT_EQ(out.result.results(3).code(), v1::RUNTIME_INCONSISTENCY);
  EXPECT_EQ(out.result.results(4).code(), v1::RUNTIME_INCONSISTENCY);
  EXPECT_FALSE(out.result.results(0).has_stat());
  EXPECT_TRUE(out.events.empty());
  EXPECT_EQ(this->State(), before);

  // Later ops see earlier ones: a parent created in the same multi, the
  // version a set in the same multi produced.
  out = this->Apply(MultiCmd({CreateOp("/p", ""), CreateOp("/p/q", ""), SetOp("/a", "2", 0),
                              CheckOp("/a", 1), SetOp("/a", "3", 1), DeleteOp("/p/q")}));
  ASSERT_EQ(out.result.code(), v1::OK);
  for (const auto& r : out.result.results()) EXPECT_EQ(r.code(), v1::OK);
  EXPECT_EQ(out.result.results(1).path(), "/p/q");
  EXPECT_EQ(out.result.results(4).stat().version(), 2);
  EXPECT_EQ(this->Get("/a").data, "3");
  EXPECT_THAT(this->Children("/p"), ElementsAre());
  EXPECT_EQ(this->Get("/p").stat.cversion, 2);
  // One event list, in op order, all at the multi's revision.
  ASSERT_EQ(out.events.size(), 8u);
  for (const auto& e : out.events) EXPECT_EQ(e.revision(), out.index);
  EXPECT_EQ(out.events[0].type(), v1::EVENT_NODE_CREATED);
  EXPECT_EQ(out.events[4].type(), v1::EVENT_NODE_DATA_CHANGED);
  EXPECT_EQ(out.events[6].type(), v1::EVENT_NODE_DELETED);
  EXPECT_EQ(out.events[7].type(), v1::EVENT_NODE_CHILDREN_CHANGED);

  // A failing first op.
  out = this->Apply(MultiCmd({CreateOp("/a", ""), CreateOp("/z", "")}));
  EXPECT_EQ(out.result.code(), v1::NODE_EXISTS);
  EXPECT_EQ(out.result.results(0).code(), v1::NODE_EXISTS);
  EXPECT_EQ(out.result.results(1).code(), v1::RUNTIME_INCONSISTENCY);
  // Too many ops: refused as a whole; an empty multi is fine.
  std::vector<v1::Op> many(9, CheckOp("/a"));
  out = this->Apply(MultiCmd(many));
  EXPECT_EQ(out.result.code(), v1::TOO_MANY_OPS);
  EXPECT_EQ(out.result.results_size(), 0);
  std::vector<v1::Op> eight(8, CheckOp("/a"));
  EXPECT_EQ(this->Code(MultiCmd(eight)), v1::OK);
  EXPECT_EQ(this->Code(MultiCmd({})), v1::OK);
  // A non-multi txn must have exactly one op.
  v1::Command two = MultiCmd({CheckOp("/a"), CheckOp("/a")});
  two.mutable_txn()->set_is_multi(false);
  EXPECT_EQ(this->Code(two), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->store()->meta().digest, RecomputeDigest(this->store()));
}

TYPED_TEST(TreeStoreTest, SequentialNamesFollowParentCversion) {
  ASSERT_EQ(this->Code(CreateCmd("/q", "")), v1::OK);
  auto create = [&](v1::CreateMode mode, uint64_t session = 0) {
    return this->Apply(CreateCmd("/q/n-", "", mode, 0, session)).result.results(0).path();
  };
  EXPECT_EQ(create(v1::PERSISTENT_SEQUENTIAL), "/q/n-0000000000");
  EXPECT_EQ(create(v1::PERSISTENT_SEQUENTIAL), "/q/n-0000000001");
  ASSERT_EQ(this->Code(DeleteCmd("/q/n-0000000000")), v1::OK);
  // The delete bumped cversion too: no name is ever reused.
  EXPECT_EQ(create(v1::PERSISTENT_SEQUENTIAL), "/q/n-0000000003");
  uint64_t session = this->OpenSession();
  EXPECT_EQ(create(v1::EPHEMERAL_SEQUENTIAL, session), "/q/n-0000000004");
  EXPECT_EQ(this->Get("/q/n-0000000004").stat.ephemeral_owner, session);
  // A trailing '/' is fine for a sequential create: the suffix is the name.
  EXPECT_EQ(this->Apply(CreateCmd("/q/", "", v1::PERSISTENT_SEQUENTIAL)).result.results(0).path(),
            "/q/0000000005");
  EXPECT_EQ(this->Code(CreateCmd("/q//", "", v1::PERSISTENT_SEQUENTIAL)), v1::INVALID_PATH);
  // Sequential creates in one multi see each other.
  EntryOutcome out = this->Apply(MultiCmd({CreateOp("/q/m-", "", v1::PERSISTENT_SEQUENTIAL),
                                           CreateOp("/q/m-", "", v1::PERSISTENT_SEQUENTIAL)}));
  EXPECT_EQ(out.result.results(0).path(), "/q/m-0000000006");
  EXPECT_EQ(out.result.results(1).path(), "/q/m-0000000007");
}

TYPED_TEST(TreeStoreTest, EphemeralsDieWithTheirSession) {
  uint64_t s1 = this->OpenSession();
  uint64_t s2 = this->OpenSession();
  EXPECT_NE(s1, s2);
  ASSERT_EQ(this->Code(CreateCmd("/m", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/m/a", "", v1::EPHEMERAL, 0, s1)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/m/b", "", v1::EPHEMERAL, 0, s1)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/c", "", v1::EPHEMERAL, 0, s1)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/m/x", "", v1::EPHEMERAL, 0, s2)), v1::OK);
  EXPECT_EQ(this->Get("/m/a").stat.ephemeral_owner, s1);
  EXPECT_EQ(this->Code(CreateCmd("/m/a/c", "")), v1::NO_CHILDREN_FOR_EPHEMERALS);
  // A session's own write with no ephemeral is fine too.
  ASSERT_EQ(this->Code(CreateCmd("/m/p", "", v1::PERSISTENT, 0, s1)), v1::OK);
  EXPECT_EQ(this->Get("/m/p").stat.ephemeral_owner, 0u);

  EntryOutcome out = this->Apply(CloseSessionCmd(s1));
  ASSERT_EQ(out.result.code(), v1::OK);
  EXPECT_THAT(this->Children("/m"), ElementsAre("p", "x"));
  EXPECT_EQ(this->Get("/c").code, v1::NO_NODE);
  // One delete event per node, each followed by its parent's child event.
  ASSERT_EQ(out.events.size(), 6u);
  EXPECT_EQ(out.events[0].path(), "/c");
  EXPECT_EQ(out.events[2].path(), "/m/a");
  EXPECT_EQ(out.events[4].path(), "/m/b");
  EXPECT_EQ(out.events[5].type(), v1::EVENT_NODE_CHILDREN_CHANGED);
  EXPECT_EQ(out.events[5].path(), "/m");
  auto session = this->store()->GetSession(s1);
  ASSERT_TRUE(session.ok());
  EXPECT_FALSE(session->session.has_value());
  EXPECT_EQ(this->Code(CloseSessionCmd(s1)), v1::SESSION_EXPIRED);
  EXPECT_EQ(this->Code(CreateCmd("/m/late", "", v1::EPHEMERAL, 0, s1)), v1::SESSION_EXPIRED);
  EXPECT_EQ(this->Code(CreateCmd("/m/late", "", v1::PERSISTENT, 0, s1)), v1::SESSION_EXPIRED);

  out = this->Apply(ExpireSessionsCmd({s2, 424242}));
  ASSERT_EQ(out.result.code(), v1::OK);
  EXPECT_THAT(this->Children("/m"), ElementsAre("p"));
  auto sessions = this->store()->ListSessions();
  ASSERT_TRUE(sessions.ok());
  EXPECT_TRUE(sessions->empty());
  EXPECT_EQ(this->store()->meta().digest, RecomputeDigest(this->store()));
}

// Session ids are revisions: one ending in a 0xff byte must still find its
// ephemerals (a prefix scan bound must carry).
TYPED_TEST(TreeStoreTest, SessionIdEndingInAllOnesByte) {
  this->driver_.set_next_index(0x5ff);
  uint64_t s = this->OpenSession();
  ASSERT_EQ(s, 0x5ffu);
  uint64_t next = this->OpenSession();
  ASSERT_EQ(this->Code(CreateCmd("/e1", "", v1::EPHEMERAL, 0, s)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/e2", "", v1::EPHEMERAL, 0, next)), v1::OK);
  ASSERT_EQ(this->Code(CloseSessionCmd(s)), v1::OK);
  EXPECT_THAT(this->Children("/"), ElementsAre("e2"));
  EXPECT_EQ(Dump(this->store()).find("BROKEN"), std::string::npos);
}

TYPED_TEST(TreeStoreTest, SessionsRecordTimeoutAndSecret) {
  EntryOutcome out = this->Apply(OpenSessionCmd(6000, "secret!"));
  ASSERT_EQ(out.result.code(), v1::OK);
  EXPECT_EQ(out.result.session_id(), out.index);
  EXPECT_EQ(out.result.session_timeout_ms(), 6000);
  auto s = this->store()->GetSession(out.index);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->session.has_value());
  EXPECT_EQ(s->session->timeout_ms, 6000);
  EXPECT_EQ(s->session->secret, "secret!");
  EXPECT_EQ(s->revision, out.index);
  // ZooKeeper clamps any requested timeout (settings_test checks the value).
  EXPECT_EQ(this->Code(OpenSessionCmd(0)), v1::OK);
}

TYPED_TEST(TreeStoreTest, ExactlyOnceWrites) {
  uint64_t s = this->OpenSession();
  EntryOutcome first = this->Apply(WithSession(CreateCmd("/x", "1"), s, 1));
  ASSERT_EQ(first.result.code(), v1::OK);
  // The retry returns the original result and applies nothing.
  const std::string before = this->State();
  EntryOutcome retry = this->Apply(WithSession(CreateCmd("/x", "1"), s, 1));
  EXPECT_EQ(retry.result.SerializeAsString(), first.result.SerializeAsString());
  EXPECT_TRUE(retry.events.empty());
  EXPECT_EQ(this->State(), before);
  // A retried set does not bump the version twice.
  ASSERT_EQ(this->Apply(WithSession(SetCmd("/x", "2"), s, 2)).result.code(), v1::OK);
  ASSERT_EQ(this->Apply(WithSession(SetCmd("/x", "2"), s, 2)).result.code(), v1::OK);
  EXPECT_EQ(this->Get("/x").stat.version, 1);
  // Failed results are remembered as well.
  EntryOutcome failed = this->Apply(WithSession(DeleteCmd("/x", 9), s, 3));
  EXPECT_EQ(failed.result.code(), v1::BAD_VERSION);
  EXPECT_EQ(this->Apply(WithSession(DeleteCmd("/x"), s, 3)).result.code(), v1::BAD_VERSION);
  EXPECT_EQ(this->Get("/x").code, v1::OK);
  // An older sequence: its result is gone, nothing applies.
  EXPECT_EQ(this->Apply(WithSession(SetCmd("/x", "old"), s, 2)).result.code(),
            v1::DEADLINE_EXCEEDED);
  EXPECT_EQ(this->Get("/x").data, "2");
  // Sequences may skip; sequence 0 opts out of deduplication.
  EXPECT_EQ(this->Apply(WithSession(SetCmd("/x", "3"), s, 10)).result.code(), v1::OK);
  EXPECT_EQ(this->Apply(WithSession(SetCmd("/x", "4"), s, 0)).result.code(), v1::OK);
  EXPECT_EQ(this->Apply(WithSession(SetCmd("/x", "5"), s, 0)).result.code(), v1::OK);
  EXPECT_EQ(this->Get("/x").stat.version, 4);
  // After the session is gone, retries are SESSION_EXPIRED.
  ASSERT_EQ(this->Code(CloseSessionCmd(s)), v1::OK);
  EXPECT_EQ(this->Apply(WithSession(SetCmd("/x", "3"), s, 10)).result.code(), v1::SESSION_EXPIRED);
}

TYPED_TEST(TreeStoreTest, ContainersGoWithTheirLastChild) {
  ASSERT_EQ(this->Code(CreateCmd("/c", "", v1::CONTAINER)), v1::OK);
  // Never had a child: stays, and DeleteExpired leaves it alone.
  auto expired = this->store()->FindExpired(1 << 30, 0);
  ASSERT_TRUE(expired.ok());
  EXPECT_TRUE(expired->empty());
  EXPECT_EQ(this->Apply(DeleteExpiredCmd({"/c"}, 1 << 30)).result.results(0).code(),
            v1::BAD_VERSION);
  EXPECT_EQ(this->Get("/c").code, v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/c/a", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/c/b", "")), v1::OK);
  ASSERT_EQ(this->Code(DeleteCmd("/c/a")), v1::OK);
  EXPECT_EQ(this->Get("/c").code, v1::OK);
  // Replacing the last child in one multi keeps the container.
  ASSERT_EQ(this->Code(MultiCmd({DeleteOp("/c/b"), CreateOp("/c/d", "")})), v1::OK);
  EXPECT_EQ(this->Get("/c").code, v1::OK);
  EntryOutcome out = this->Apply(DeleteCmd("/c/d"));
  ASSERT_EQ(out.result.code(), v1::OK);
  EXPECT_EQ(this->Get("/c").code, v1::NO_NODE);
  ASSERT_EQ(out.events.size(), 4u);
  EXPECT_EQ(out.events[2].type(), v1::EVENT_NODE_DELETED);
  EXPECT_EQ(out.events[2].path(), "/c");
  EXPECT_EQ(out.events[3].path(), "/");

  // Nested containers go in cascade; an ephemeral's session end counts.
  uint64_t s = this->OpenSession();
  ASSERT_EQ(this->Code(CreateCmd("/o", "", v1::CONTAINER)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/o/i", "", v1::CONTAINER)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/o/i/e", "", v1::EPHEMERAL, 0, s)), v1::OK);
  ASSERT_EQ(this->Code(CloseSessionCmd(s)), v1::OK);
  EXPECT_EQ(this->Get("/o/i").code, v1::NO_NODE);
  EXPECT_EQ(this->Get("/o").code, v1::NO_NODE);
  EXPECT_TRUE(this->Children("/").empty());

  // An emptied container left over (e.g. from before) is found and deleted.
  ASSERT_EQ(this->Code(CreateCmd("/k", "", v1::CONTAINER)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/k/a", "")), v1::OK);
  EXPECT_EQ(this->Code(DeleteCmd("/k/a")), v1::OK);
  EXPECT_EQ(this->Get("/k").code, v1::NO_NODE);
  EXPECT_EQ(this->store()->meta().digest, RecomputeDigest(this->store()));
}

TYPED_TEST(TreeStoreTest, TtlNodesExpireByLeaderTime) {
  ASSERT_EQ(this->Code(CreateCmd("/t", "", v1::PERSISTENT_WITH_TTL, 100, 0, 1000)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/u", "", v1::PERSISTENT_WITH_TTL, 100, 0, 1000)), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/u/kid", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/p", "")), v1::OK);
  EXPECT_THAT(*this->store()->FindExpired(1099, 0), ElementsAre());
  EXPECT_THAT(*this->store()->FindExpired(1100, 0), ElementsAre("/t"));
  // Too early at apply (the leader's stamp decides, not the proposal).
  EntryOutcome out = this->Apply(DeleteExpiredCmd({"/t", "/u", "/p", "/none"}, 1099));
  EXPECT_EQ(out.result.results(0).code(), v1::BAD_VERSION);
  EXPECT_EQ(out.result.results(1).code(), v1::NOT_EMPTY);
  EXPECT_EQ(out.result.results(2).code(), v1::BAD_VERSION);
  EXPECT_EQ(out.result.results(3).code(), v1::NO_NODE);
  // A set restarts the clock.
  ASSERT_EQ(this->Code(SetCmd("/t", "x", -1, 1050)), v1::OK);
  EXPECT_EQ(this->Apply(DeleteExpiredCmd({"/t"}, 1100)).result.results(0).code(), v1::BAD_VERSION);
  out = this->Apply(DeleteExpiredCmd({"/t"}, 1150));
  EXPECT_EQ(out.result.results(0).code(), v1::OK);
  EXPECT_EQ(this->Get("/t").code, v1::NO_NODE);
  EXPECT_EQ(out.events.size(), 2u);
  ASSERT_EQ(this->Code(DeleteCmd("/u/kid")), v1::OK);
  EXPECT_THAT(*this->store()->FindExpired(5000, 0), ElementsAre("/u"));
  EXPECT_THAT(*this->store()->FindExpired(5000, 1), ElementsAre("/u"));
  // TTL sequential.
  auto seq = this->Apply(CreateCmd("/p/s-", "", v1::PERSISTENT_SEQUENTIAL_WITH_TTL, 5, 0, 0));
  EXPECT_EQ(seq.result.results(0).path(), "/p/s-0000000000");
  EXPECT_THAT(*this->store()->FindExpired(5000, 0), ElementsAre("/p/s-0000000000", "/u"));
}

TYPED_TEST(TreeStoreTest, HistoryKeepsVersions) {
  const uint64_t created = this->Apply(CreateCmd("/h", "v0")).index;
  const uint64_t set1 = this->Apply(SetCmd("/h", "v1")).index;
  const uint64_t other = this->Apply(CreateCmd("/other", "")).index;
  const uint64_t set2 = this->Apply(SetCmd("/h", "v2")).index;
  auto h = this->store()->History("/h", 0);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->code, v1::OK);
  ASSERT_EQ(h->versions.size(), 3u);
  EXPECT_EQ(h->versions[0].data, "v2");
  EXPECT_EQ(h->versions[2].data, "v0");
  EXPECT_EQ(h->versions[1].stat.version, 1);
  EXPECT_EQ(h->versions[1].revision, set1);
  EXPECT_EQ(this->store()->History("/h", 2)->versions.size(), 2u);
  EXPECT_EQ(this->store()->History("/never", 0)->code, v1::NO_NODE);

  EXPECT_EQ(this->store()->GetAtVersion("/h", 1)->data, "v1");
  // Each way a versioned read fails has its own code or reason.
  EXPECT_EQ(this->store()->GetAtVersion("/never", 0)->code, v1::NO_NODE);
  auto future = this->store()->GetAtVersion("/h", 99);
  EXPECT_EQ(future->code, v1::INVALID_ARGUMENT);
  EXPECT_EQ(future->message, "version 99 of /h does not exist: its version is 2");
  auto negative = this->store()->GetAtVersion("/h", -1);
  EXPECT_EQ(negative->code, v1::INVALID_ARGUMENT);
  EXPECT_EQ(negative->message, "version -1 is negative (versions count from 0)");
  EXPECT_EQ(this->store()->GetAtRevision("/h", set2 + 1)->message,
            absl::StrCat("revision ", set2 + 1, " is ahead of this replica's applied ", set2));
  EXPECT_EQ(this->store()->GetAtRevision("/h", created - 1)->code, v1::NO_NODE);
  EXPECT_EQ(this->store()->GetAtRevision("/h", created)->data, "v0");
  EXPECT_EQ(this->store()->GetAtRevision("/h", other)->data, "v1");
  EXPECT_EQ(this->store()->GetAtRevision("/h", set2)->data, "v2");
  EXPECT_EQ(this->store()->GetAtRevision("/h", set2 + 1)->code, v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->store()->GetAtRevision("/", 0)->code, v1::OK);

  // Deleted: the history stays readable, with a tombstone on top.
  const uint64_t deleted = this->Apply(DeleteCmd("/h")).index;
  h = this->store()->History("/h", 0);
  ASSERT_EQ(h->versions.size(), 4u);
  EXPECT_TRUE(h->versions[0].deleted);
  EXPECT_EQ(h->versions[0].revision, deleted);
  EXPECT_EQ(h->versions[0].stat.version, 2);
  EXPECT_EQ(this->store()->GetAtRevision("/h", deleted)->code, v1::NO_NODE);
  EXPECT_EQ(this->store()->GetAtRevision("/h", deleted - 1)->data, "v2");
  EXPECT_EQ(this->store()->GetAtVersion("/h", 2)->data, "v2");
  EXPECT_EQ(this->store()->GetAtVersion("/h", 3)->message,
            "version 3 of /h does not exist: its last version before its delete was 2");

  // Re-created: a new incarnation; versions count from 0 again. The per-node
  // bound (4) drops the oldest entries.
  const uint64_t recreated = this->Apply(CreateCmd("/h", "w0")).index;
  h = this->store()->History("/h", 0);
  ASSERT_EQ(h->versions.size(), 4u);
  EXPECT_EQ(h->versions[0].data, "w0");
  EXPECT_EQ(h->versions[3].data, "v1");
  EXPECT_EQ(this->store()->GetAtVersion("/h", 0)->data, "w0");
  EXPECT_EQ(this->store()->GetAtRevision("/h", recreated - 1)->code, v1::NO_NODE);
  EXPECT_EQ(this->store()->GetAtRevision("/h", created)->code, v1::COMPACTED);
  ASSERT_EQ(this->Code(SetCmd("/h", "w1")), v1::OK);
  ASSERT_EQ(this->Code(SetCmd("/h", "w2")), v1::OK);
  ASSERT_EQ(this->Code(SetCmd("/h", "w3")), v1::OK);
  ASSERT_EQ(this->Code(SetCmd("/h", "w4")), v1::OK);
  // Dropped by the per-node bound, with no compaction at all: the reason
  // says so (not the compaction revision, which is 0).
  auto dropped = this->store()->GetAtVersion("/h", 0);
  EXPECT_EQ(dropped->code, v1::COMPACTED);
  EXPECT_EQ(dropped->message,
            "version 0 of /h is no longer kept: each node keeps its last --history_per_node "
            "versions, the oldest kept is 1");
  EXPECT_EQ(this->store()->meta().compact_revision, 0u);
  EXPECT_EQ(this->store()->GetAtVersion("/h", 1)->data, "w1");
  EXPECT_EQ(this->store()->History("/h", 0)->versions.size(), 4u);
}

TYPED_TEST(TreeStoreTest, CompactionHidesOldRevisionsAndEvents) {
  const uint64_t r1 = this->Apply(CreateCmd("/a", "1")).index;
  const uint64_t r2 = this->Apply(SetCmd("/a", "2")).index;
  const uint64_t r3 = this->Apply(CreateCmd("/gone", "")).index;
  const uint64_t r4 = this->Apply(DeleteCmd("/gone")).index;
  const uint64_t r5 = this->Apply(SetCmd("/a", "3")).index;
  auto events = this->store()->EventsAfter(0, 0);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->events.size(), 2u + 1 + 2 + 2 + 1);
  events = this->store()->EventsAfter(r3, 1);
  ASSERT_EQ(events->events.size(), 2u);  // a revision is never split
  EXPECT_EQ(events->events[0].revision(), r4);
  EXPECT_TRUE(events->has_more);
  events = this->store()->EventsAfter(r4, 1);
  EXPECT_EQ(events->events.size(), 1u);
  EXPECT_FALSE(events->has_more);

  EXPECT_EQ(this->Code(CompactCmd(r4)), v1::OK);
  EXPECT_EQ(this->Code(CompactCmd(r1)), v1::OK);  // lower: ignored
  EXPECT_EQ(this->Code(CompactCmd(1u << 30)), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->store()->meta().compact_revision, r4);
  EXPECT_EQ(this->store()->GetAtRevision("/a", r2)->code, v1::COMPACTED);
  EXPECT_EQ(this->store()->GetAtRevision("/a", r4)->data, "2");
  auto below = this->store()->GetAtVersion("/a", 0);
  EXPECT_EQ(below->code, v1::COMPACTED);
  EXPECT_EQ(below->message,
            absl::StrCat("version 0 of /a was replaced at revision ", r2,
                         ", at or below the compaction revision ", r4));
  EXPECT_EQ(this->store()->GetAtRevision("/a", r2)->message,
            absl::StrCat("revision ", r2, " is below the compaction revision ", r4));
  EXPECT_EQ(this->store()->GetAtVersion("/a", 1)->data, "2");
  auto h = this->store()->History("/a", 0);
  ASSERT_EQ(h->versions.size(), 2u);
  EXPECT_EQ(h->compact_revision, r4);
  EXPECT_EQ(this->store()->History("/gone", 0)->code, v1::NO_NODE);
  EXPECT_EQ(this->store()->EventsAfter(r3, 0)->code, v1::COMPACTED);
  events = this->store()->EventsAfter(r4, 0);
  ASSERT_EQ(events->code, v1::OK);
  ASSERT_EQ(events->events.size(), 1u);
  EXPECT_EQ(events->events[0].revision(), r5);
}

TYPED_TEST(TreeStoreTest, CompactionDropsHistoryOfDeletedPaths) {
  ASSERT_EQ(this->Code(CreateCmd("/q", "")), v1::OK);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(this->Code(CreateCmd("/q/item" + std::to_string(i), "x")), v1::OK);
    ASSERT_EQ(this->Code(DeleteCmd("/q/item" + std::to_string(i))), v1::OK);
  }
  ASSERT_EQ(this->Code(CreateCmd("/back", "1")), v1::OK);
  const uint64_t deleted = this->Apply(DeleteCmd("/back")).index;
  const uint64_t recreated = this->Apply(CreateCmd("/back", "2")).index;
  EXPECT_NE(Dump(this->store()).find("hist /q/item0 "), std::string::npos);
  ASSERT_EQ(this->Code(CompactCmd(deleted)), v1::OK);
  // Six deleted paths, four purged per compaction: two wait for the next.
  std::string dump = Dump(this->store());
  EXPECT_NE(dump.find("grave"), std::string::npos) << dump;
  EXPECT_EQ(dump.find("hist /q/item0 "), std::string::npos) << dump;
  EXPECT_NE(dump.find("hist /q/item4 "), std::string::npos) << dump;
  ASSERT_EQ(this->Code(CompactCmd(deleted)), v1::OK);
  dump = Dump(this->store());
  EXPECT_EQ(dump.find("hist /q/item"), std::string::npos) << dump;
  EXPECT_EQ(dump.find("grave"), std::string::npos) << dump;
  EXPECT_EQ(this->store()->History("/q/item3", 0)->code, v1::NO_NODE);
  EXPECT_EQ(this->store()->GetAtRevision("/q/item3", deleted)->code, v1::NO_NODE);
  // A path created again keeps its new incarnation.
  auto h = this->store()->History("/back", 0);
  ASSERT_EQ(h->code, v1::OK);
  EXPECT_EQ(h->versions[0].data, "2");
  EXPECT_EQ(this->store()->GetAtRevision("/back", recreated)->data, "2");
  // A purged path starts its history afresh when created again.
  ASSERT_EQ(this->Code(CreateCmd("/q/item0", "again")), v1::OK);
  EXPECT_EQ(this->store()->GetAtRevision("/q/item0", deleted)->code, v1::NO_NODE);
  EXPECT_EQ(this->Get("/q/item0").data, "again");
  EXPECT_NE(Dump(this->store()).find("hist /q/item0 #1 "), std::string::npos);
}

TYPED_TEST(TreeStoreTest, ChildrenPagination) {
  ASSERT_EQ(this->Code(CreateCmd("/d", "")), v1::OK);
  ASSERT_EQ(this->Code(CreateCmd("/empty", "")), v1::OK);
  // Names and neighbours chosen to trip a key layout that is not per parent:
  // "/d-x" and "/d/a/b" must not show up among "/d"'s children.
  ASSERT_EQ(this->Code(CreateCmd("/d-x", "")), v1::OK);
  for (const char* name : {"b", "a", "a-", "a0", "c", "B", "~"}) {
    ASSERT_EQ(this->Code(CreateCmd(std::string("/d/") + name, name)), v1::OK);
  }
  ASSERT_EQ(this->Code(CreateCmd("/d/a/b", "")), v1::OK);
  EXPECT_THAT(this->Children("/d"), ElementsAre("B", "a", "a-", "a0", "b", "c", "~"));
  EXPECT_THAT(this->Children("/"), ElementsAre("d", "d-x", "empty"));

  std::vector<std::string> all;
  std::string after;
  int pages = 0;
  for (;;) {
    auto page = this->store()->GetChildren("/d", after, 1, true);
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->names.size(), 1u);
    ASSERT_EQ(page->stats.size(), 1u);
    EXPECT_EQ(page->stats[0].data_length, static_cast<int64_t>(page->names[0].size()));
    EXPECT_EQ(page->parent_stat.num_children, 7);
    all.push_back(page->names[0]);
    after = page->names.back();
    ++pages;
    if (!page->has_more) break;
  }
  EXPECT_EQ(pages, 7);
  EXPECT_EQ(all, this->Children("/d"));
  // Exact page size: everything, and no next page.
  auto page = this->store()->GetChildren("/d", "", 7, false);
  EXPECT_EQ(page->names.size(), 7u);
  EXPECT_FALSE(page->has_more);
  EXPECT_TRUE(page->stats.empty());
  page = this->store()->GetChildren("/d", "", 6, false);
  EXPECT_EQ(page->names.size(), 6u);
  EXPECT_TRUE(page->has_more);
  // Start after the last, or after a name that is not there.
  page = this->store()->GetChildren("/d", "~", 3, false);
  EXPECT_TRUE(page->names.empty());
  EXPECT_FALSE(page->has_more);
  EXPECT_THAT(this->store()->GetChildren("/d", "a1", 2, false)->names, ElementsAre("b", "c"));
  page = this->store()->GetChildren("/empty", "", 5, true);
  EXPECT_EQ(page->code, v1::OK);
  EXPECT_TRUE(page->names.empty());
  EXPECT_FALSE(page->has_more);
}

TYPED_TEST(TreeStoreTest, ReplayOfAppliedEntriesChangesNothing) {
  v1::Command create = CreateCmd("/a", "1");
  v1::Command set = SetCmd("/a", "2");
  std::vector<EntryOutcome> out = this->driver_.ApplyBatch({create, set});
  ASSERT_EQ(out[1].result.code(), v1::OK);
  const std::string before = Dump(this->store());
  // The same entries again (a restart replays the log from an older point).
  std::vector<ApplyEntry> replay = {{out[0].index, &create}, {out[1].index, &set}};
  auto again = this->driver_.applier().ApplyBatch(replay);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)[0].skipped);
  EXPECT_TRUE((*again)[1].skipped);
  EXPECT_EQ(Dump(this->store()), before);
  // A batch straddling the applied index applies only the new part.
  v1::Command set3 = SetCmd("/a", "3");
  std::vector<ApplyEntry> straddle = {{out[1].index, &set}, {out[1].index + 1, &set3}};
  again = this->driver_.applier().ApplyBatch(straddle);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)[0].skipped);
  EXPECT_EQ((*again)[1].result.code(), v1::OK);
  EXPECT_EQ(this->Get("/a").stat.version, 2);
  // A raw commit at or below the applied index is a no-op too.
  WriteSet stale;
  stale.applied_index = out[1].index;
  stale.nodes["/zzz"] = Node{};
  ASSERT_TRUE(this->store()->Commit(stale).ok());
  EXPECT_EQ(this->Get("/zzz").code, v1::NO_NODE);
  // Decreasing indexes in one batch are refused.
  std::vector<ApplyEntry> bad = {{100, &set}, {99, &set}};
  EXPECT_FALSE(this->driver_.applier().ApplyBatch(bad).ok());
}

TYPED_TEST(TreeStoreTest, NonCommandEntriesAdvanceTheIndex) {
  std::vector<ApplyEntry> entries = {{1, nullptr}, {2, nullptr}};
  auto out = this->driver_.applier().ApplyBatch(entries);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(this->store()->meta().applied_index, 2u);
  EXPECT_EQ((*out)[1].result.code(), v1::OK);
}

TYPED_TEST(TreeStoreTest, DigestCheck) {
  const uint64_t r = this->Apply(CreateCmd("/a", "1")).index;
  const uint64_t digest = this->store()->meta().digest;
  ASSERT_EQ(this->Code(SetCmd("/a", "2")), v1::OK);
  EXPECT_NE(this->store()->meta().digest, digest);
  EXPECT_EQ(this->Code(DigestCheckCmd(r, digest)), v1::OK);
  EXPECT_EQ(this->Code(DigestCheckCmd(r, digest + 1)), v1::DATA_LOSS);
  // Unknown revision: cannot be checked, not a failure.
  EXPECT_EQ(this->Code(DigestCheckCmd(1u << 30, 7)), v1::OK);
  EXPECT_EQ(this->store()->meta().digest, RecomputeDigest(this->store()));
}

TYPED_TEST(TreeStoreTest, ReadsAreConsistentDuringCommits) {
  ASSERT_EQ(this->Code(CreateCmd("/pairs", "")), v1::OK);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!stop.load()) {
      // Each multi below adds two children at once: a read sees both or
      // neither, and the parent stat it sees matches.
      auto page = this->store()->GetChildren("/pairs", "", 0, false);
      if (!page.ok() || page->names.size() % 2 != 0 ||
          page->parent_stat.num_children != static_cast<int64_t>(page->names.size())) {
        ++torn;
      }
      ++reads;
    }
  });
  // At least 200 commits, and on until the reader has overlapped some.
  for (int i = 0; (i < 200 || reads.load() < 20) && i < 100000; ++i) {
    std::string base = "/pairs/" + std::to_string(i);
    ASSERT_EQ(this->Code(MultiCmd({CreateOp(base + "a", ""), CreateOp(base + "b", "")})), v1::OK);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

}  // namespace
}  // namespace synod::storage::testing
