// The authorization matrix (issue 24): every operation × the permission a
// node's ACL grants × who calls, on a real 3-replica cluster with TLS on
// both ports and auth enabled. Each cell asserts the answer, and for a
// denied write that nothing changed (data, stat, ACL and children, as the
// superuser reads them before and after).
//
// Callers: owner (user:owner, granted), other (user:other, not granted),
// anonymous (TLS without a client certificate), x509 (a client certificate
// with CN x509-svc, granted), superuser (ZooKeeper digest super:pw given
// to the replicas with --superuser_digest).
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "storage/acl.h"
#include "synod/v1/auth.grpc.pb.h"
#include "synod/v1/watch.grpc.pb.h"
#include "tests/e2e/synodctl_run.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/wait.h"

namespace synod::e2e {
namespace {

using ::synod::testing::TempDir;
using ::synod::testing::TestCa;
using ::synod::testing::TestCert;

enum class Who { kOwner, kOther, kAnonymous, kX509, kSuper };
constexpr Who kEveryone[] = {Who::kOwner, Who::kOther, Who::kAnonymous, Who::kX509, Who::kSuper};

const char* Name(Who who) {
  switch (who) {
    case Who::kOwner:
      return "owner";
    case Who::kOther:
      return "other";
    case Who::kAnonymous:
      return "anonymous";
    case Who::kX509:
      return "x509";
    case Who::kSuper:
      return "superuser";
  }
  return "?";
}

// The permissions one matrix node grants (to owner and x509 only).
struct Grant {
  char letter;
  uint32_t perm;
};
constexpr Grant kGrants[] = {{'r', storage::kPermRead},
                             {'w', storage::kPermWrite},
                             {'c', storage::kPermCreate},
                             {'d', storage::kPermDelete},
                             {'a', storage::kPermAdmin}};

class AuthzMatrixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env();
    Populate();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }

  // Everything the matrix shares: one cluster, set up once.
  struct Env {
    Env() {
      absl::StatusOr<TestCa> made = TestCa::Create(tmp.Sub("ca"), "authz-ca");
      EXPECT_TRUE(made.ok()) << made.status();
      ca.emplace(*std::move(made));
      server = *ca->Issue("server");
      x509_client = *ca->Issue("x509-svc");
      TestCluster::Options o;
      o.extra_flags = {"--tls_cert=" + server.cert,
                       "--tls_key=" + server.key,
                       "--tls_client_ca=" + ca->cert(),
                       "--tls_client_auth=request",
                       "--peer_tls_cert=" + server.cert,
                       "--peer_tls_key=" + server.key,
                       "--peer_tls_ca=" + ca->cert(),
                       "--superuser_digest=" + storage::DigestId("super", "pw")};
      grpc::SslCredentialsOptions anonymous;
      anonymous.pem_root_certs = Slurp(ca->cert());
      o.credentials = grpc::SslCredentials(anonymous);
      cluster = std::make_unique<TestCluster>(o);
      absl::Status started = cluster->StartAll();
      EXPECT_TRUE(started.ok()) << started;
      leader = cluster->WaitForLeader(absl::Seconds(30));
      EXPECT_NE(leader, 0);
      grpc::SslCredentialsOptions with_cert = anonymous;
      with_cert.pem_cert_chain = Slurp(x509_client.cert);
      with_cert.pem_private_key = Slurp(x509_client.key);
      grpc::ChannelArguments args;
      args.SetSslTargetNameOverride("localhost");
      x509_channel = grpc::CreateCustomChannel(cluster->client_addr(leader),
                                               grpc::SslCredentials(with_cert), args);
    }

    TempDir tmp;
    std::optional<TestCa> ca;
    TestCert server;
    TestCert x509_client;
    std::unique_ptr<TestCluster> cluster;
    int leader = 0;
    std::shared_ptr<grpc::Channel> x509_channel;
    std::map<std::string, std::string> tokens;  // user -> token
  };

  static Env* env_;

  std::shared_ptr<grpc::Channel> ChannelFor(Who who) const {
    return who == Who::kX509 ? env_->x509_channel : env_->cluster->channel(env_->leader);
  }

  // A context carrying `who`'s credentials.
  std::unique_ptr<grpc::ClientContext> As(Who who, absl::Duration timeout = absl::Seconds(5)) const {
    std::unique_ptr<grpc::ClientContext> ctx = Ctx(timeout);
    switch (who) {
      case Who::kOwner:
        ctx->AddMetadata("authorization", "Bearer " + env_->tokens.at("owner"));
        break;
      case Who::kOther:
        ctx->AddMetadata("authorization", "Bearer " + env_->tokens.at("other"));
        break;
      case Who::kSuper:
        ctx->AddMetadata("synod-digest", "super:pw");
        break;
      case Who::kAnonymous:
      case Who::kX509:
        break;
    }
    return ctx;
  }

  std::unique_ptr<v1::Tree::Stub> Tree(Who who) const { return v1::Tree::NewStub(ChannelFor(who)); }
  std::unique_ptr<v1::Auth::Stub> Auth(Who who) const { return v1::Auth::NewStub(ChannelFor(who)); }
  std::unique_ptr<v1::Cluster::Stub> Cluster(Who who) const {
    return v1::Cluster::NewStub(ChannelFor(who));
  }

  static bool Granted(Who who) { return who == Who::kOwner || who == Who::kX509; }
  static void Populate();
  static std::vector<v1::Acl> MatrixAcl(uint32_t perm);
  static std::unique_ptr<grpc::ClientContext> SuperCtx();

  // What the superuser sees of a node: data, stat, ACL and children.
  std::string StateOf(const std::string& path) const {
    auto tree = Tree(Who::kSuper);
    v1::GetRequest get;
    get.set_path(path);
    v1::GetResponse got;
    grpc::Status s1 = tree->Get(As(Who::kSuper).get(), get, &got);
    v1::GetAclRequest acl_req;
    acl_req.set_path(path);
    v1::GetAclResponse acl;
    grpc::Status s2 = tree->GetAcl(As(Who::kSuper).get(), acl_req, &acl);
    v1::GetChildrenRequest kids_req;
    kids_req.set_path(path);
    v1::GetChildrenResponse kids;
    grpc::Status s3 = tree->GetChildren(As(Who::kSuper).get(), kids_req, &kids);
    got.clear_header();
    acl.clear_header();
    kids.clear_header();
    return absl::StrCat(s1.error_code(), got.ShortDebugString(), "|", s2.error_code(),
                        acl.ShortDebugString(), "|", s3.error_code(), kids.ShortDebugString());
  }
};

AuthzMatrixTest::Env* AuthzMatrixTest::env_ = nullptr;

// ZooKeeper digest identity super:pw is the superuser on every replica; it
// adds the users (one of them a superuser user, which auth enable needs),
// enables auth, and builds the tree: /m/<letter> grants that one
// permission to owner and x509 only; each has an open child kid-<who> per
// caller (for deletes); /open is open to everyone.
void AuthzMatrixTest::Populate() {
  if (env_->leader == 0) return;
  auto auth = v1::Auth::NewStub(env_->cluster->channel(env_->leader));
  for (const auto& [name, superuser] :
       std::vector<std::pair<std::string, bool>>{{"admin", true}, {"owner", false}, {"other", false}}) {
    v1::UserAddRequest req;
    req.set_name(name);
    req.set_password(name + "-password");
    req.set_superuser(superuser);
    v1::UserAddResponse resp;
    grpc::Status s = auth->UserAdd(SuperCtx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << name << ": " << s.error_message();
  }
  {
    v1::AuthEnableResponse resp;
    grpc::Status s = auth->AuthEnable(SuperCtx().get(), v1::AuthEnableRequest(), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  for (const char* name : {"owner", "other"}) {
    v1::AuthenticateRequest req;
    req.set_user(name);
    req.set_password(std::string(name) + "-password");
    v1::AuthenticateResponse resp;
    grpc::Status s = auth->Authenticate(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << name << ": " << s.error_message();
    env_->tokens[name] = resp.token();
  }
  auto tree = v1::Tree::NewStub(env_->cluster->channel(env_->leader));
  auto create = [&](const std::string& path, std::vector<v1::Acl> acl) {
    v1::CreateRequest req;
    req.mutable_op()->set_path(path);
    req.mutable_op()->set_data("d");
    for (auto& a : acl) *req.mutable_op()->add_acl() = a;
    v1::CreateResponse resp;
    grpc::Status s = tree->Create(SuperCtx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << path << ": " << s.error_message();
  };
  create("/m", {});
  create("/open", {});
  create("/marker", {});
  for (const Grant& g : kGrants) {
    std::string path = absl::StrCat("/m/", std::string(1, g.letter));
    create(path, MatrixAcl(g.perm));
    for (Who who : kEveryone) create(absl::StrCat(path, "/kid-", Name(who)), {});
  }
}

std::vector<v1::Acl> AuthzMatrixTest::MatrixAcl(uint32_t perm) {
  v1::Acl owner;
  owner.set_perms(perm);
  owner.set_scheme("user");
  owner.set_id("owner");
  v1::Acl x509;
  x509.set_perms(perm);
  x509.set_scheme("x509");
  x509.set_id("x509-svc");
  return {owner, x509};
}

std::unique_ptr<grpc::ClientContext> AuthzMatrixTest::SuperCtx() {
  std::unique_ptr<grpc::ClientContext> ctx = Ctx(absl::Seconds(10));
  ctx->AddMetadata("synod-digest", "super:pw");
  return ctx;
}

std::string Path(const Grant& g) { return absl::StrCat("/m/", std::string(1, g.letter)); }

// Reads: allowed to the superuser and to granted callers of a node that
// grants PERM_READ; everyone else gets PERMISSION_DENIED and no data.
TEST_F(AuthzMatrixTest, Reads) {
  ASSERT_NE(env_->leader, 0);
  for (const Grant& g : kGrants) {
    for (Who who : kEveryone) {
      SCOPED_TRACE(absl::StrCat(Path(g), " as ", Name(who)));
      const bool allowed = who == Who::kSuper || (Granted(who) && g.perm == storage::kPermRead);
      const v1::ErrorCode want = allowed ? v1::OK : v1::PERMISSION_DENIED;
      auto tree = Tree(who);

      v1::GetRequest get;
      get.set_path(Path(g));
      v1::GetResponse got;
      grpc::Status s = tree->Get(As(who).get(), get, &got);
      EXPECT_EQ(CodeOf(s, got.header()), want) << "Get: " << s.error_message();
      if (!allowed) {
        EXPECT_TRUE(got.data().empty() && !got.has_stat());
      }

      v1::GetChildrenRequest kids;
      kids.set_path(Path(g));
      v1::GetChildrenResponse listed;
      s = tree->GetChildren(As(who).get(), kids, &listed);
      EXPECT_EQ(CodeOf(s, listed.header()), want) << "GetChildren: " << s.error_message();
      if (!allowed) {
        EXPECT_EQ(listed.children_size(), 0);
      }

      v1::HistoryRequest history;
      history.set_path(Path(g));
      v1::HistoryResponse versions;
      s = tree->History(As(who).get(), history, &versions);
      EXPECT_EQ(CodeOf(s, versions.header()), want) << "History: " << s.error_message();
      if (!allowed) {
        EXPECT_EQ(versions.versions_size(), 0);
      }

      // GetAcl: READ or ADMIN.
      const bool acl_allowed =
          who == Who::kSuper || (Granted(who) && (g.perm == storage::kPermRead ||
                                                   g.perm == storage::kPermAdmin));
      v1::GetAclRequest acl_req;
      acl_req.set_path(Path(g));
      v1::GetAclResponse acl;
      s = tree->GetAcl(As(who).get(), acl_req, &acl);
      EXPECT_EQ(CodeOf(s, acl.header()), acl_allowed ? v1::OK : v1::PERMISSION_DENIED)
          << "GetAcl: " << s.error_message();
      if (!acl_allowed) {
        EXPECT_EQ(acl.acl_size(), 0);
      }

      // Exists needs no permission (as ZooKeeper).
      v1::ExistsRequest exists;
      exists.set_path(Path(g));
      v1::ExistsResponse there;
      s = tree->Exists(As(who).get(), exists, &there);
      EXPECT_EQ(CodeOf(s, there.header()), v1::OK) << "Exists: " << s.error_message();
      EXPECT_TRUE(there.exists());
    }
  }
}

// Writes: each needs its own permission; a denied one changes nothing.
TEST_F(AuthzMatrixTest, Writes) {
  ASSERT_NE(env_->leader, 0);
  for (const Grant& g : kGrants) {
    for (Who who : kEveryone) {
      SCOPED_TRACE(absl::StrCat(Path(g), " as ", Name(who)));
      auto tree = Tree(who);
      auto allowed = [&](uint32_t needed) {
        return who == Who::kSuper || (Granted(who) && g.perm == needed);
      };
      const std::string before = StateOf(Path(g));

      v1::SetRequest set;
      set.mutable_op()->set_path(Path(g));
      set.mutable_op()->set_data(absl::StrCat("by-", Name(who)));
      v1::SetResponse set_resp;
      grpc::Status s = tree->Set(As(who).get(), set, &set_resp);
      const bool set_ok = allowed(storage::kPermWrite);
      EXPECT_EQ(CodeOf(s, set_resp.header()), set_ok ? v1::OK : v1::PERMISSION_DENIED)
          << "Set: " << s.error_message();

      v1::CreateRequest create;
      create.mutable_op()->set_path(absl::StrCat(Path(g), "/new-", Name(who)));
      v1::CreateResponse created;
      s = tree->Create(As(who).get(), create, &created);
      const bool create_ok = allowed(storage::kPermCreate);
      EXPECT_EQ(CodeOf(s, created.header()), create_ok ? v1::OK : v1::PERMISSION_DENIED)
          << "Create: " << s.error_message();

      v1::DeleteRequest del;
      del.mutable_op()->set_path(absl::StrCat(Path(g), "/kid-", Name(who)));
      v1::DeleteResponse deleted;
      s = tree->Delete(As(who).get(), del, &deleted);
      const bool delete_ok = allowed(storage::kPermDelete);
      EXPECT_EQ(CodeOf(s, deleted.header()), delete_ok ? v1::OK : v1::PERMISSION_DENIED)
          << "Delete: " << s.error_message();

      v1::SetAclRequest set_acl;
      set_acl.mutable_op()->set_path(Path(g));
      for (const v1::Acl& a : MatrixAcl(g.perm)) *set_acl.mutable_op()->add_acl() = a;
      v1::SetAclResponse acl_resp;
      s = tree->SetAcl(As(who).get(), set_acl, &acl_resp);
      const bool acl_ok = allowed(storage::kPermAdmin);
      EXPECT_EQ(CodeOf(s, acl_resp.header()), acl_ok ? v1::OK : v1::PERMISSION_DENIED)
          << "SetAcl: " << s.error_message();

      if (!set_ok && !create_ok && !delete_ok && !acl_ok) {
        EXPECT_EQ(StateOf(Path(g)), before) << "a denied write changed the node";
      }
    }
  }
}

// A multi with one denied op fails whole: the open node it also sets is
// unchanged, and the results say which op was refused.
TEST_F(AuthzMatrixTest, MultiIsAllOrNothing) {
  ASSERT_NE(env_->leader, 0);
  for (const Grant& g : kGrants) {
    for (Who who : kEveryone) {
      SCOPED_TRACE(absl::StrCat(Path(g), " as ", Name(who)));
      const bool allowed = who == Who::kSuper || (Granted(who) && g.perm == storage::kPermRead);
      const std::string before = StateOf("/open");
      v1::MultiRequest multi;
      multi.add_ops()->mutable_set()->set_path("/open");
      multi.mutable_ops(0)->mutable_set()->set_data(absl::StrCat("multi-", Name(who)));
      multi.add_ops()->mutable_check()->set_path(Path(g));
      v1::MultiResponse resp;
      grpc::Status s = Tree(who)->Multi(As(who).get(), multi, &resp);
      if (allowed) {
        EXPECT_EQ(CodeOf(s, resp.header()), v1::OK) << s.error_message();
        continue;
      }
      EXPECT_EQ(CodeOf(s, resp.header()), v1::PERMISSION_DENIED) << s.error_message();
      ASSERT_EQ(resp.results_size(), 2);
      EXPECT_EQ(resp.results(0).code(), v1::ROLLED_BACK);
      EXPECT_EQ(resp.results(1).code(), v1::PERMISSION_DENIED);
      EXPECT_EQ(StateOf("/open"), before);
    }
  }
}

// A watcher sees a change only if it may read the node.
TEST_F(AuthzMatrixTest, Watches) {
  ASSERT_NE(env_->leader, 0);
  for (const Grant& g : kGrants) {
    for (Who who : kEveryone) {
      SCOPED_TRACE(absl::StrCat(Path(g), " as ", Name(who)));
      const bool visible = who == Who::kSuper || (Granted(who) && g.perm == storage::kPermRead);
      auto watch = v1::Watch::NewStub(ChannelFor(who));
      std::unique_ptr<grpc::ClientContext> ctx = As(who, absl::Seconds(20));
      auto stream = watch->Watch(ctx.get());
      ASSERT_TRUE(stream != nullptr);
      for (auto [id, path] : std::vector<std::pair<uint64_t, std::string>>{{1, Path(g)}, {2, "/marker"}}) {
        v1::WatchRequest req;
        req.mutable_create()->set_watch_id(id);
        req.mutable_create()->set_path(path);
        req.mutable_create()->set_kind(v1::WATCH_PERSISTENT);
        ASSERT_TRUE(stream->Write(req));
      }
      int acks = 0;
      v1::WatchResponse resp;
      while (acks < 2 && stream->Read(&resp)) {
        if (resp.created()) ++acks;
        ASSERT_FALSE(resp.canceled()) << resp.ShortDebugString();
      }
      ASSERT_EQ(acks, 2);
      // The superuser changes the node, then the marker: the marker's event
      // comes after the node's, if the node's comes at all.
      auto super_tree = Tree(Who::kSuper);
      for (const std::string& path : {Path(g), std::string("/marker")}) {
        v1::SetRequest set;
        set.mutable_op()->set_path(path);
        set.mutable_op()->set_data("watched");
        v1::SetResponse set_resp;
        ASSERT_TRUE(super_tree->Set(SuperCtx().get(), set, &set_resp).ok()) << path;
      }
      bool saw_node = false;
      bool saw_marker = false;
      while (!saw_marker && stream->Read(&resp)) {
        for (const v1::WatchEvent& e : resp.events()) {
          EXPECT_EQ(e.acl_size(), 0) << "an event carried its ACL to the client";
          if (resp.watch_id() == 1) saw_node = true;
          if (resp.watch_id() == 2) saw_marker = true;
        }
      }
      EXPECT_TRUE(saw_marker);
      EXPECT_EQ(saw_node, visible);
      ctx->TryCancel();
      stream->Finish().IgnoreError();
    }
  }
}

// Cluster operations: the admin right (superuser) for changes, an
// authenticated identity for status and member list.
TEST_F(AuthzMatrixTest, ClusterOperations) {
  ASSERT_NE(env_->leader, 0);
  for (Who who : kEveryone) {
    SCOPED_TRACE(Name(who));
    auto cluster = Cluster(who);
    // No credentials at all is UNAUTHENTICATED; credentials without the
    // right are PERMISSION_DENIED.
    const v1::ErrorCode admin_denied =
        who == Who::kAnonymous ? v1::UNAUTHENTICATED : v1::PERMISSION_DENIED;

    v1::StatusResponse status;
    grpc::Status s = cluster->Status(As(who).get(), v1::StatusRequest(), &status);
    EXPECT_EQ(CodeOf(s, status.header()), who == Who::kAnonymous ? v1::UNAUTHENTICATED : v1::OK)
        << "Status: " << s.error_message();

    v1::MemberListResponse members;
    s = cluster->MemberList(As(who).get(), v1::MemberListRequest(), &members);
    EXPECT_EQ(CodeOf(s, members.header()), who == Who::kAnonymous ? v1::UNAUTHENTICATED : v1::OK)
        << "MemberList: " << s.error_message();

    // Past the gate each of these fails on its own terms, changing nothing.
    v1::MemberAddRequest add;
    add.set_id(1);
    add.set_peer_addr(env_->cluster->peer_addr(1));
    add.set_client_addr(env_->cluster->client_addr(1));
    v1::MemberAddResponse added;
    s = cluster->MemberAdd(As(who).get(), add, &added);
    EXPECT_EQ(CodeOf(s, added.header()), who == Who::kSuper ? v1::MEMBER_EXISTS : admin_denied)
        << "MemberAdd: " << s.error_message();

    v1::TransferLeaderRequest transfer;
    transfer.set_id(99);
    v1::TransferLeaderResponse transferred;
    s = cluster->TransferLeader(As(who).get(), transfer, &transferred);
    EXPECT_EQ(CodeOf(s, transferred.header()),
              who == Who::kSuper ? v1::MEMBER_NOT_FOUND : admin_denied)
        << "TransferLeader: " << s.error_message();

    v1::SettingsSetResponse settings;
    s = cluster->SettingsSet(As(who).get(), v1::SettingsSetRequest(), &settings);
    EXPECT_EQ(CodeOf(s, settings.header()), who == Who::kSuper ? v1::OK : admin_denied)
        << "SettingsSet: " << s.error_message();

    v1::QuotaSetRequest quota;
    quota.set_path(absl::StrCat("/quota-", Name(who)));
    quota.set_max_nodes(5);
    v1::QuotaSetResponse quota_set;
    s = cluster->QuotaSet(As(who).get(), quota, &quota_set);
    EXPECT_EQ(CodeOf(s, quota_set.header()), who == Who::kSuper ? v1::OK : admin_denied)
        << "QuotaSet: " << s.error_message();
    v1::QuotaGetRequest quota_get;
    quota_get.set_path(quota.path());
    v1::QuotaGetResponse quotas;
    s = cluster->QuotaGet(As(who).get(), quota_get, &quotas);
    EXPECT_EQ(CodeOf(s, quotas.header()), who == Who::kAnonymous ? v1::UNAUTHENTICATED
                                          : who == Who::kSuper    ? v1::OK
                                                                  : v1::NO_NODE)
        << "QuotaGet: " << s.error_message();
    v1::QuotaDeleteRequest quota_delete;
    quota_delete.set_path(quota.path());
    v1::QuotaDeleteResponse quota_deleted;
    s = cluster->QuotaDelete(As(who).get(), quota_delete, &quota_deleted);
    EXPECT_EQ(CodeOf(s, quota_deleted.header()), who == Who::kSuper ? v1::OK : admin_denied)
        << "QuotaDelete: " << s.error_message();

    std::unique_ptr<grpc::ClientContext> snap_ctx = As(who, absl::Seconds(20));
    auto reader = cluster->Snapshot(snap_ctx.get(), v1::SnapshotRequest());
    v1::SnapshotChunk chunk;
    bool got_chunk = reader->Read(&chunk);
    if (got_chunk) snap_ctx->TryCancel();
    grpc::Status snap = reader->Finish();
    EXPECT_EQ(got_chunk, who == Who::kSuper) << "Snapshot: " << snap.error_message();
    if (who != Who::kSuper) {
      EXPECT_EQ(snap.error_code(), who == Who::kAnonymous ? grpc::StatusCode::UNAUTHENTICATED
                                                          : grpc::StatusCode::PERMISSION_DENIED);
    }

    auto auth = Auth(who);
    v1::UserAddRequest user;
    user.set_name(absl::StrCat("u-", Name(who)));
    user.set_password("p");
    v1::UserAddResponse user_resp;
    s = auth->UserAdd(As(who).get(), user, &user_resp);
    EXPECT_EQ(CodeOf(s, user_resp.header()), who == Who::kSuper ? v1::OK : admin_denied)
        << "UserAdd: " << s.error_message();
  }
}

}  // namespace
}  // namespace synod::e2e
