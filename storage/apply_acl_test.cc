// ACLs in apply, over both backends: ZooKeeper's permission matrix (each op
// x granted / denied / superuser), the order of its checks, a denied op
// rolling back its multi, "auth" expansion at create, setACL and aversion,
// the ACLs of history entries and watch events, internal commands going
// unchecked, session ownership, and the encodings and digest term.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/acl.h"
#include "storage/apply.h"
#include "storage/tree_test_util.h"

namespace synod::storage::testing {
namespace {

v1::Caller Digest(const std::string& user, const std::string& ip = "") {
  v1::Caller c;
  v1::Identity* id = c.add_ids();
  id->set_scheme("digest");
  id->set_id(DigestId(user, "pw"));
  if (!ip.empty()) {
    id = c.add_ids();
    id->set_scheme("ip");
    id->set_id(ip);
  }
  return c;
}

v1::Caller Super() {
  v1::Caller c;
  c.set_superuser(true);
  return c;
}

v1::Acl Entry(const std::string& scheme, const std::string& id, uint32_t perms) {
  v1::Acl a;
  a.set_scheme(scheme);
  a.set_id(id);
  a.set_perms(perms);
  return a;
}

v1::Acl DigestEntry(const std::string& user, uint32_t perms) {
  return Entry("digest", DigestId(user, "pw"), perms);
}

v1::Command As(v1::Command c, const v1::Caller& caller) {
  *c.mutable_caller() = caller;
  return c;
}

v1::Command CreateWithAcl(const std::string& path, const std::vector<v1::Acl>& acl,
                          v1::CreateMode mode = v1::PERSISTENT, uint64_t session = 0) {
  v1::Command c = CreateCmd(path, "d", mode, 0, session);
  for (const v1::Acl& a : acl) *c.mutable_txn()->mutable_ops(0)->mutable_create()->add_acl() = a;
  return c;
}

v1::Op SetAclOp(const std::string& path, const std::vector<v1::Acl>& acl, int64_t aversion = -1) {
  v1::Op op;
  op.mutable_set_acl()->set_path(path);
  for (const v1::Acl& a : acl) *op.mutable_set_acl()->add_acl() = a;
  op.mutable_set_acl()->set_expected_aversion(aversion);
  return op;
}

v1::Command SetAclCmd(const std::string& path, const std::vector<v1::Acl>& acl,
                      int64_t aversion = -1) {
  v1::Command c;
  c.set_leader_time_ms(1000);
  *c.mutable_txn()->add_ops() = SetAclOp(path, acl, aversion);
  return c;
}

// The dump without its meta line: what a refused command must not change
// (it still advances the applied index).
std::string State(TreeStore* store) {
  std::string dump = Dump(store);
  return dump.substr(dump.find('\n') + 1);
}

Node NodeAt(TreeStore* store, const std::string& path) {
  auto view = store->NewView();
  EXPECT_TRUE(view.ok());
  auto node = (*view)->GetNode(path);
  EXPECT_TRUE(node.ok());
  EXPECT_TRUE(node->has_value()) << path;
  return node->value_or(Node());
}

template <typename Holder>
class AclApplyTest : public ::testing::Test {
 protected:
  v1::ErrorCode Code(const v1::Command& c) { return driver_.Apply(c).result.code(); }

  Holder holder_;
  Driver driver_{holder_.store()};
};
TYPED_TEST_SUITE(AclApplyTest, StoreBackends, StoreBackendNames);

// One cell per (op, permission held): alice holds exactly the op's
// permission (granted), every permission but it (denied), or nothing while
// the caller is the superuser.
TYPED_TEST(AclApplyTest, ZooKeeperMatrix) {
  struct Case {
    const char* name;
    uint32_t perm;  // what the op needs on the node /p
    v1::Command command;
  };
  const std::vector<Case> cases = {
      {"create child", kPermCreate, CreateCmd("/p/new", "x")},
      {"delete child", kPermDelete, DeleteCmd("/p/c")},
      {"set", kPermWrite, SetCmd("/p", "y")},
      {"check", kPermRead, MultiCmd({CheckOp("/p")})},
      {"set acl", kPermAdmin, SetAclCmd("/p", {DigestEntry("alice", kPermAll)})},
  };
  enum Who { kGranted, kDenied, kSuperuser };
  for (const Case& c : cases) {
    for (Who who : {kGranted, kDenied, kSuperuser}) {
      SCOPED_TRACE(std::string(c.name) + " as " +
                   (who == kGranted ? "granted" : who == kDenied ? "denied" : "superuser"));
      TypeParam holder;
      Driver driver(holder.store());
      const uint32_t perms = who == kGranted ? c.perm : who == kDenied ? kPermAll & ~c.perm : 0;
      ASSERT_EQ(driver.Apply(As(CreateCmd("/p", "d"), Super())).result.code(), v1::OK);
      ASSERT_EQ(driver.Apply(As(CreateCmd("/p/c", "d"), Super())).result.code(), v1::OK);
      if (perms != 0) {
        ASSERT_EQ(driver.Apply(As(SetAclCmd("/p", {DigestEntry("alice", perms)}), Super()))
                      .result.code(),
                  v1::OK);
      } else {
        ASSERT_EQ(driver.Apply(As(SetAclCmd("/p", {DigestEntry("bob", kPermAll)}), Super()))
                      .result.code(),
                  v1::OK);
      }
      const std::string before = State(holder.store());
      const v1::Caller caller = who == kSuperuser ? Super() : Digest("alice", "10.0.0.1");
      const EntryOutcome out = driver.Apply(As(c.command, caller));
      if (who == kDenied) {
        EXPECT_EQ(out.result.code(), v1::PERMISSION_DENIED);
        EXPECT_EQ(State(holder.store()), before);
        EXPECT_TRUE(out.events.empty());
      } else {
        EXPECT_EQ(out.result.code(), v1::OK);
      }
      EXPECT_EQ(Dump(holder.store()).find("BROKEN"), std::string::npos);
    }
  }
}

TYPED_TEST(AclApplyTest, AnonymousCallerMatchesWorldOnly) {
  ASSERT_EQ(this->Code(CreateWithAcl("/w", {Entry("world", "anyone", kPermRead)})), v1::OK);
  EXPECT_EQ(this->Code(SetCmd("/w", "x")), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(MultiCmd({CheckOp("/w")})), v1::OK);
  // A node created without an ACL is open to everyone.
  ASSERT_EQ(this->Code(CreateCmd("/open", "d")), v1::OK);
  EXPECT_TRUE(NodeAt(this->holder_.store(), "/open").acl.empty());
  EXPECT_EQ(this->Code(As(SetCmd("/open", "x"), Digest("carol"))), v1::OK);
}

// ZooKeeper's order: the given ACL, the parent, the parent's ACL, the node.
TYPED_TEST(AclApplyTest, CreateChecksInZooKeepersOrder) {
  ASSERT_EQ(this->Code(CreateWithAcl("/locked", {DigestEntry("alice", kPermAll)})), v1::OK);
  ASSERT_EQ(this->Code(As(CreateCmd("/locked/x", "d"), Digest("alice"))), v1::OK);
  const v1::Acl bad = Entry("nosuchscheme", "x", kPermAll);
  EXPECT_EQ(this->Code(CreateWithAcl("/missing/x", {bad})), v1::INVALID_ACL);
  EXPECT_EQ(this->Code(CreateWithAcl("/locked/x", {bad})), v1::INVALID_ACL);
  EXPECT_EQ(this->Code(CreateCmd("/missing/x", "d")), v1::NO_NODE);
  // Denied before NODE_EXISTS: a denied caller learns nothing of the child.
  EXPECT_EQ(this->Code(CreateCmd("/locked/x", "d")), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(CreateCmd("/locked/y", "d")), v1::PERMISSION_DENIED);
  // Delete: the node first, then PERM_DELETE on the parent, then the version.
  EXPECT_EQ(this->Code(DeleteCmd("/locked/none")), v1::NO_NODE);
  EXPECT_EQ(this->Code(DeleteCmd("/locked/x", 7)), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(As(DeleteCmd("/locked/x", 7), Digest("alice"))), v1::BAD_VERSION);
  // Set and check: NO_NODE, then the ACL, then the version.
  EXPECT_EQ(this->Code(SetCmd("/locked/none", "x")), v1::NO_NODE);
  EXPECT_EQ(this->Code(SetCmd("/locked", "x", 7)), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(MultiCmd({CheckOp("/locked", 7)})), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(As(MultiCmd({CheckOp("/locked", 7)}), Digest("alice"))), v1::BAD_VERSION);
}

TYPED_TEST(AclApplyTest, DeniedOpRollsBackItsMulti) {
  ASSERT_EQ(this->Code(CreateWithAcl("/locked", {DigestEntry("alice", kPermAll)})), v1::OK);
  const std::string before = State(this->holder_.store());
  EntryOutcome out = this->driver_.Apply(
      As(MultiCmd({CreateOp("/a", "x"), SetOp("/locked", "y"), CreateOp("/b", "x")}),
         Digest("bob")));
  EXPECT_EQ(out.result.code(), v1::PERMISSION_DENIED);
  ASSERT_EQ(out.result.results_size(), 3);
  EXPECT_EQ(out.result.results(0).code(), v1::ROLLED_BACK);
  EXPECT_EQ(out.result.results(1).code(), v1::PERMISSION_DENIED);
  EXPECT_EQ(out.result.results(2).code(), v1::RUNTIME_INCONSISTENCY);
  EXPECT_TRUE(out.events.empty());
  EXPECT_EQ(State(this->holder_.store()), before);
  // An op sees the ACL an earlier op of its multi set.
  out = this->driver_.Apply(As(MultiCmd({SetAclOp("/locked", {DigestEntry("bob", kPermAll)}),
                                         SetOp("/locked", "z")}),
                               Digest("alice")));
  EXPECT_EQ(out.result.code(), v1::PERMISSION_DENIED);
  EXPECT_EQ(out.result.results(1).code(), v1::PERMISSION_DENIED);
  EXPECT_EQ(State(this->holder_.store()), before);
}

TYPED_TEST(AclApplyTest, AuthExpandsToTheCallersIdentities) {
  v1::Caller alice = Digest("alice", "10.0.0.1");
  v1::Identity* x509 = alice.add_ids();
  x509->set_scheme("x509");
  x509->set_id("CN=alice");
  ASSERT_EQ(this->Code(As(CreateWithAcl("/mine", {Entry("auth", "", kPermRead | kPermWrite)}),
                          alice)),
            v1::OK);
  const Acl expected = {AclEntry{kPermRead | kPermWrite, "digest", DigestId("alice", "pw")},
                        AclEntry{kPermRead | kPermWrite, "x509", "CN=alice"}};
  EXPECT_EQ(NodeAt(this->holder_.store(), "/mine").acl, expected);
  EXPECT_EQ(this->Code(As(SetCmd("/mine", "x"), Digest("alice"))), v1::OK);
  EXPECT_EQ(this->Code(As(SetCmd("/mine", "x"), Digest("bob"))), v1::PERMISSION_DENIED);
  // "auth" from a caller with no identity: INVALID_ACL, nothing created.
  EXPECT_EQ(this->Code(CreateWithAcl("/anon", {Entry("auth", "", kPermAll)})), v1::INVALID_ACL);
  // world:anyone:cdrwa is the open ACL, stored empty.
  ASSERT_EQ(this->Code(CreateWithAcl("/open", {Entry("world", "anyone", kPermAll)})), v1::OK);
  EXPECT_TRUE(NodeAt(this->holder_.store(), "/open").acl.empty());
}

TYPED_TEST(AclApplyTest, SetAclChecksAversionAndIsNoDataVersion) {
  TreeStore* store = this->holder_.store();
  ASSERT_EQ(this->Code(CreateCmd("/n", "v0")), v1::OK);
  const Node before = NodeAt(store, "/n");
  EntryOutcome out = this->driver_.Apply(SetAclCmd("/n", {DigestEntry("alice", kPermAll)}, 0));
  ASSERT_EQ(out.result.code(), v1::OK);
  EXPECT_EQ(out.result.results(0).stat().aversion(), 1);
  EXPECT_TRUE(out.events.empty());  // as ZooKeeper: setACL fires no watch
  const Node after = NodeAt(store, "/n");
  EXPECT_EQ(after.stat.aversion, 1);
  EXPECT_EQ(after.stat.version, before.stat.version);
  EXPECT_EQ(after.stat.mzxid, before.stat.mzxid);
  EXPECT_EQ(after.history_seq, before.history_seq);
  EXPECT_EQ(RecomputeDigest(store), store->meta().digest);
  // Stale aversion: BAD_VERSION (after the ADMIN check: alice holds it).
  EXPECT_EQ(this->Code(As(SetAclCmd("/n", {}, 0), Digest("alice"))), v1::BAD_VERSION);
  EXPECT_EQ(this->Code(SetAclCmd("/n", {}, 1)), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(As(SetAclCmd("/missing", {}, 1), Digest("alice"))), v1::NO_NODE);
  EXPECT_EQ(this->Code(As(SetAclCmd("/n", {Entry("ip", "not-an-ip", kPermAll)}), Digest("alice"))),
            v1::INVALID_ACL);
  EXPECT_EQ(this->Code(As(SetCmd("/n", "v1"), Digest("alice"))), v1::OK);
  // Back to open with any aversion (-1).
  EXPECT_EQ(this->Code(As(SetAclCmd("/n", {}, -1), Digest("alice"))), v1::OK);
  EXPECT_EQ(NodeAt(store, "/n").stat.aversion, 2);
  EXPECT_EQ(this->Code(SetCmd("/n", "v2")), v1::OK);
  // History: each data version with the ACL the node had then.
  auto history = store->History("/n", 0);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->versions.size(), 3u);
  EXPECT_TRUE(history->versions[0].acl.empty());                        // v2
  EXPECT_EQ(history->versions[1].acl, Acl({AclEntry{kPermAll, "digest",  // v1
                                                    DigestId("alice", "pw")}}));
  EXPECT_TRUE(history->versions[2].acl.empty());  // v0, before the setACL
}

TYPED_TEST(AclApplyTest, EventsCarryTheAclOfTheirNode) {
  const Acl parent_acl = {AclEntry{kPermAll, "digest", DigestId("alice", "pw")}};
  const Acl child_acl = {AclEntry{kPermRead, "world", "anyone"}};
  ASSERT_EQ(this->Code(CreateWithAcl("/p", {DigestEntry("alice", kPermAll)})), v1::OK);
  auto acl_of = [](const v1::WatchEvent& e) {
    Acl out;
    for (const v1::Acl& a : e.acl()) out.push_back(FromProto(a));
    return out;
  };
  EntryOutcome out = this->driver_.Apply(
      As(CreateWithAcl("/p/c", {Entry("world", "anyone", kPermRead)}), Digest("alice")));
  ASSERT_EQ(out.result.code(), v1::OK);
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].type(), v1::EVENT_NODE_CREATED);
  EXPECT_EQ(acl_of(out.events[0]), child_acl);
  EXPECT_EQ(out.events[1].type(), v1::EVENT_NODE_CHILDREN_CHANGED);
  EXPECT_EQ(acl_of(out.events[1]), parent_acl);
  out = this->driver_.Apply(As(DeleteCmd("/p/c"), Digest("alice")));
  ASSERT_EQ(out.result.code(), v1::OK);
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].type(), v1::EVENT_NODE_DELETED);
  EXPECT_EQ(acl_of(out.events[0]), child_acl);
  EXPECT_EQ(acl_of(out.events[1]), parent_acl);
  out = this->driver_.Apply(As(SetCmd("/p", "x"), Digest("alice")));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(acl_of(out.events[0]), parent_acl);
  // Open nodes: no entries at all.
  out = this->driver_.Apply(CreateCmd("/o", "x"));
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].acl_size(), 0);
  EXPECT_EQ(out.events[1].acl_size(), 0);
  // The stored events keep their ACLs (catch-up reads them back).
  auto events = this->holder_.store()->EventsAfter(0, 0);
  ASSERT_TRUE(events.ok());
  bool found = false;
  for (const v1::WatchEvent& e : events->events) {
    if (e.type() == v1::EVENT_NODE_DELETED && e.path() == "/p/c") {
      found = true;
      EXPECT_EQ(acl_of(e), child_acl);
    }
  }
  EXPECT_TRUE(found);
}

// Session expiry and TTL/container removal are the cluster's own doing: no
// caller, no check, whatever the parent's ACL says.
TYPED_TEST(AclApplyTest, InternalCommandsAreNotChecked) {
  EntryOutcome open = this->driver_.Apply(As(OpenSessionCmd(), Super()));
  const uint64_t session = open.result.session_id();
  ASSERT_EQ(this->Code(CreateWithAcl("/p", {DigestEntry("alice", kPermAll)})), v1::OK);
  ASSERT_EQ(this->Code(As(CreateCmd("/p/e", "d", v1::EPHEMERAL, 0, session), Super())), v1::OK);
  ASSERT_EQ(this->Code(As(CreateCmd("/p/t", "d", v1::PERSISTENT_WITH_TTL, 10, 0, 1000), Super())),
            v1::OK);
  EXPECT_EQ(this->Code(ExpireSessionsCmd({session})), v1::OK);
  EntryOutcome expired = this->driver_.Apply(DeleteExpiredCmd({"/p/t"}, 5000));
  ASSERT_EQ(expired.result.results_size(), 1);
  EXPECT_EQ(expired.result.results(0).code(), v1::OK);
  EXPECT_EQ(NodeAt(this->holder_.store(), "/p").stat.num_children, 0);
}

TYPED_TEST(AclApplyTest, SessionsBelongToTheirOpener) {
  const uint64_t alices =
      this->driver_.Apply(As(OpenSessionCmd(), Digest("alice", "10.0.0.1"))).result.session_id();
  const uint64_t anonymous = this->driver_.Apply(OpenSessionCmd()).result.session_id();
  // Another address is the same owner; another identity or none is not.
  EXPECT_EQ(this->Code(As(WithSession(CreateCmd("/a", "x"), alices, 1), Digest("alice", "10.9.9.9"))),
            v1::OK);
  EXPECT_EQ(this->Code(As(WithSession(CreateCmd("/b", "x"), alices, 2), Digest("bob"))),
            v1::PERMISSION_DENIED);
  // Not even the stored result of the owner's last write is shown.
  EntryOutcome repeat = this->driver_.Apply(WithSession(CreateCmd("/a", "x"), alices, 1));
  EXPECT_EQ(repeat.result.code(), v1::PERMISSION_DENIED);
  EXPECT_EQ(repeat.result.results_size(), 0);
  // A session-less write from the same caller is not a session write.
  EXPECT_EQ(this->Code(As(CreateCmd("/c", "x"), Digest("bob"))), v1::OK);
  // Holding more identities than the owner keeps the session: a ZooKeeper
  // client's addauth after its (anonymous) session was opened.
  EXPECT_EQ(this->Code(WithSession(CreateCmd("/d", "x"), anonymous, 1)), v1::OK);
  EXPECT_EQ(this->Code(As(WithSession(CreateCmd("/e", "x", v1::EPHEMERAL, 0, anonymous), anonymous, 2),
                          Digest("alice"))),
            v1::OK);
  EXPECT_EQ(NodeAt(this->holder_.store(), "/e").stat.ephemeral_owner, anonymous);
  v1::Caller alice_and_bob = Digest("alice");
  *alice_and_bob.add_ids() = Digest("bob").ids(0);
  EXPECT_EQ(this->Code(As(WithSession(CreateCmd("/f", "x"), alices, 3), alice_and_bob)), v1::OK);
  EXPECT_EQ(this->Code(CloseSessionCmd(alices)), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(As(CloseSessionCmd(alices), Digest("bob"))), v1::PERMISSION_DENIED);
  EXPECT_EQ(this->Code(As(CloseSessionCmd(anonymous), Super())), v1::OK);
  EXPECT_EQ(this->Code(As(CloseSessionCmd(alices), Digest("alice"))), v1::OK);
  auto sessions = this->holder_.store()->ListSessions();
  ASSERT_TRUE(sessions.ok());
  EXPECT_TRUE(sessions->empty());
}

// Session ids are revisions, easy to guess: a write through a session
// must present its secret, or it fails and changes nothing (no ephemeral
// in its name, no sequence used up, no stored result shown).
TYPED_TEST(AclApplyTest, SessionWritesNeedTheSessionSecret) {
  const uint64_t s = this->driver_.Apply(OpenSessionCmd(10000, "right")).result.session_id();
  const std::string before = State(this->holder_.store());
  for (const char* wrong : {"", "wrong", "righ"}) {
    v1::Command create = CreateCmd("/e", "x", v1::EPHEMERAL);
    SetSession(&create, s, wrong);
    EXPECT_EQ(this->Code(create), v1::AUTH_FAILED) << wrong;
    v1::Command write = WithSession(CreateCmd("/p", "x"), s, 1);
    write.mutable_write()->set_session_secret(wrong);
    EXPECT_EQ(this->Code(write), v1::AUTH_FAILED) << wrong;
  }
  // The superuser too: holding the session is proved by its secret only.
  v1::Command super = CreateCmd("/e", "x", v1::EPHEMERAL);
  SetSession(&super, s, "wrong");
  EXPECT_EQ(this->Code(As(super, Super())), v1::AUTH_FAILED);
  EXPECT_EQ(State(this->holder_.store()), before);
  v1::Command ok = WithSession(CreateCmd("/p", "x"), s, 1);
  ok.mutable_write()->set_session_secret("right");
  EXPECT_EQ(this->Code(ok), v1::OK);
  // A repeat with a wrong secret does not see the stored result.
  v1::Command repeat = ok;
  repeat.mutable_write()->set_session_secret("wrong");
  EntryOutcome answer = this->driver_.Apply(repeat);
  EXPECT_EQ(answer.result.code(), v1::AUTH_FAILED);
  EXPECT_EQ(answer.result.results_size(), 0);
}

TYPED_TEST(AclApplyTest, SessionOwnerIsStoredWithoutIp) {
  v1::Caller caller = Digest("alice", "10.0.0.1");
  *caller.add_ids() = caller.ids(0);  // a repeated identity counts once
  const uint64_t id = this->driver_.Apply(As(OpenSessionCmd(), caller)).result.session_id();
  this->holder_.Reopen();
  this->driver_.Restart(this->holder_.store());
  auto session = this->holder_.store()->GetSession(id);
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE(session->session.has_value());
  EXPECT_EQ(session->session->owner,
            std::vector<SessionOwnerId>({SessionOwnerId{"digest", DigestId("alice", "pw")}}));
}

TEST(AclEncodingTest, NodesAndHistoryKeepTheirAcl) {
  Node node;
  node.stat.version = 3;
  node.data = "payload";
  const size_t open_size = EncodeNode(node).size();
  // The open ACL costs one byte over the fixed head.
  EXPECT_EQ(open_size, 2 + 11 * 8 + 16 + 1 + node.data.size());
  node.acl = {AclEntry{kPermRead, "world", "anyone"},
              AclEntry{kPermAll, "digest", DigestId("alice", "pw")}};
  Node decoded;
  ASSERT_TRUE(DecodeNode(EncodeNode(node), &decoded).ok());
  EXPECT_EQ(decoded, node);
  HistoryEntry entry;
  entry.revision = 9;
  entry.acl = node.acl;
  entry.data = "d";
  HistoryEntry decoded_entry;
  ASSERT_TRUE(DecodeHistoryEntry(EncodeHistoryEntry(entry), &decoded_entry).ok());
  EXPECT_EQ(decoded_entry, entry);
  // A record cut inside its ACL is damage, not a shorter ACL.
  std::string cut = EncodeNode(node);
  cut.resize(2 + 11 * 8 + 16 + 4);
  EXPECT_FALSE(DecodeNode(cut, &decoded).ok());
  Session session;
  session.id = 5;
  session.secret = "s";
  session.owner = {SessionOwnerId{"user", "alice"}};
  session.acked_below = 2;
  session.results = {{2, "r"}, {4, ""}};
  Session decoded_session;
  ASSERT_TRUE(DecodeSession(EncodeSession(session), &decoded_session).ok());
  EXPECT_EQ(decoded_session, session);
  // Results out of order, repeated or below acked_below, and bytes after
  // the last one, are damage.
  for (const std::vector<WriteResult>& bad : {std::vector<WriteResult>{{4, ""}, {2, "r"}},
                                         std::vector<WriteResult>{{2, ""}, {2, "r"}},
                                         std::vector<WriteResult>{{1, "r"}}}) {
    Session damaged = session;
    damaged.results = bad;
    EXPECT_FALSE(DecodeSession(EncodeSession(damaged), &decoded_session).ok());
  }
  EXPECT_FALSE(DecodeSession(EncodeSession(session) + "x", &decoded_session).ok());
}

TEST(AclEncodingTest, DigestTermCoversTheAcl) {
  Node node;
  const uint64_t open = NodeDigestTerm("/n", node);
  node.acl = {AclEntry{kPermRead, "world", "anyone"}};
  EXPECT_NE(NodeDigestTerm("/n", node), open);
  const uint64_t read_only = NodeDigestTerm("/n", node);
  node.acl[0].perms = kPermAll;
  EXPECT_NE(NodeDigestTerm("/n", node), read_only);
}

}  // namespace
}  // namespace synod::storage::testing
