// The client's credentials against FakeCluster: the token from
// Authenticate on every call, renewal before expires_at_ms, one
// re-authentication after UNAUTHENTICATED, digest metadata, the checks of
// Connect; and the ACL and Auth calls.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/acl.h"
#include "synod/client.h"
#include "synod/v1/tree.pb.h"

namespace synod {
namespace {

using client::testing::ConnectOrDie;
using client::testing::FakeClientOptions;
using client::testing::FakeCluster;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

using Metadata = FakeCluster::Metadata;

Client::Options AsUser(const FakeCluster& cluster, std::string user, std::string password) {
  Client::Options o = FakeClientOptions(cluster);
  o.user = std::move(user);
  o.password = std::move(password);
  // Only the test's calls, one attempt each: no member refresh, and no
  // Tree.Pipeline attempt first (the fake has none) that takes a token.
  o.discover_members = false;
  o.pipeline_calls = false;
  return o;
}

TEST(ClientAuth, AuthenticatesOnceAndSendsTheTokenWithEveryCall) {
  FakeCluster cluster;
  cluster.AddUser("alice", "pw-a", false);
  auto client = ConnectOrDie(AsUser(cluster, "alice", "pw-a"));
  ASSERT_TRUE(client->Create("/a", "1").ok());
  ASSERT_TRUE(client->Get("/a").ok());
  ASSERT_TRUE(client->Set("/a", "2").ok());
  EXPECT_EQ(cluster.tokens_issued(), 1);
  EXPECT_THAT(cluster.credentials("Authenticate"), ElementsAre(IsEmpty()));
  const Metadata bearer = {{"authorization", "Bearer token-1"}};
  EXPECT_THAT(cluster.credentials("Get"), ElementsAre(bearer));
  EXPECT_THAT(cluster.credentials("Set"), ElementsAre(bearer));
  // The session a write opened carries it too.
  EXPECT_THAT(cluster.credentials("Open"), ElementsAre(bearer));
  absl::StatusOr<WhoAmIResult> me = client->WhoAmI();
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_THAT(me->ids, ElementsAre(Identity{"user", "alice"}));
  EXPECT_FALSE(me->superuser);
}

TEST(ClientAuth, ReauthenticatesOnceWhenTheTokenExpired) {
  FakeCluster cluster;
  cluster.AddUser("alice", "pw-a", false);
  auto client = ConnectOrDie(AsUser(cluster, "alice", "pw-a"));
  ASSERT_TRUE(client->Exists("/").ok());
  cluster.ExpireTokens();
  absl::StatusOr<ExistsResult> r = client->Exists("/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(cluster.tokens_issued(), 2);
  // The refused attempt, then the same call with the new token.
  EXPECT_THAT(cluster.credentials("Exists"),
              ElementsAre(Metadata{{"authorization", "Bearer token-1"}},
                          Metadata{{"authorization", "Bearer token-1"}},
                          Metadata{{"authorization", "Bearer token-2"}}));
}

TEST(ClientAuth, GivesUpAfterOneReauthentication) {
  FakeCluster cluster;
  cluster.AddUser("alice", "pw-a", false);
  cluster.RejectAllTokens();
  auto client = ConnectOrDie(AsUser(cluster, "alice", "pw-a"));
  absl::StatusOr<ExistsResult> r = client->Exists("/", {}, CallOptions::Timeout(absl::Seconds(5)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorCodeOf(r.status()), ErrorCode::kUnauthenticated) << r.status();
  EXPECT_EQ(cluster.tokens_issued(), 2);
  EXPECT_EQ(cluster.credentials("Exists").size(), 2u);
}

TEST(ClientAuth, RenewsTheTokenBeforeItExpires) {
  FakeCluster cluster;
  cluster.AddUser("alice", "pw-a", false);
  // Every token says it expires as it is issued: each call takes a new one
  // first, and none is refused.
  cluster.SetTokenTtl(absl::ZeroDuration());
  auto client = ConnectOrDie(AsUser(cluster, "alice", "pw-a"));
  ASSERT_TRUE(client->Exists("/").ok());
  ASSERT_TRUE(client->Exists("/").ok());
  EXPECT_EQ(cluster.tokens_issued(), 2);
  EXPECT_THAT(cluster.credentials("Exists"),
              ElementsAre(Metadata{{"authorization", "Bearer token-1"}},
                          Metadata{{"authorization", "Bearer token-2"}}));
}

TEST(ClientAuth, WrongPasswordFailsWithoutShowingIt) {
  FakeCluster cluster;
  cluster.AddUser("alice", "pw-a", false);
  auto client = ConnectOrDie(AsUser(cluster, "alice", "not-the-password"));
  absl::StatusOr<GetResult> r = client->Get("/", {}, CallOptions::Timeout(absl::Seconds(5)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrorCodeOf(r.status()), ErrorCode::kUnauthenticated) << r.status();
  EXPECT_THAT(std::string(r.status().message()), Not(::testing::HasSubstr("not-the-password")));
  EXPECT_THAT(cluster.credentials("Get"), IsEmpty());  // never sent without a token
}

TEST(ClientAuth, SendsDigestsWithEveryCall) {
  FakeCluster cluster;
  Client::Options o = FakeClientOptions(cluster);
  o.digests = {"bob:secret", "carol:x"};
  auto client = ConnectOrDie(o);
  ASSERT_TRUE(client->Exists("/").ok());
  EXPECT_THAT(cluster.credentials("Exists"),
              ElementsAre(Metadata{{"synod-digest", "bob:secret"}, {"synod-digest", "carol:x"}}));
  absl::StatusOr<WhoAmIResult> me = client->WhoAmI();
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_THAT(me->ids,
              UnorderedElementsAre(Identity{"digest", storage::DigestId("bob", "secret")},
                                   Identity{"digest", storage::DigestId("carol", "x")}));
  EXPECT_EQ(cluster.tokens_issued(), 0);
}

TEST(ClientAuth, ConnectRefusesMalformedCredentials) {
  FakeCluster cluster;
  Client::Options o = FakeClientOptions(cluster);
  o.user = "alice";
  EXPECT_EQ(ErrorCodeOf(Client::Connect(o).status()), ErrorCode::kInvalidArgument);
  o = FakeClientOptions(cluster);
  o.digests = {"no-colon-secret"};
  absl::Status s = Client::Connect(o).status();
  EXPECT_EQ(ErrorCodeOf(s), ErrorCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), Not(::testing::HasSubstr("no-colon-secret")));
}

TEST(ClientAcl, CreateSendsTheAclAndGetAclReadsTheNodes) {
  FakeCluster cluster;
  auto client = ConnectOrDie(FakeClientOptions(cluster));
  CreateOptions create;
  create.acl = {AclEntry{kPermRead | kPermAdmin, "world", "anyone"},
                AclEntry{kPermAll, "digest", storage::DigestId("bob", "pw")}};
  ASSERT_TRUE(client->Create("/open", "").ok());
  ASSERT_TRUE(client->Create("/acl", "", create).ok());
  v1::CreateRequest sent;
  ASSERT_TRUE(sent.ParseFromString(cluster.requests("Create").back()));
  ASSERT_EQ(sent.op().acl_size(), 2);
  EXPECT_EQ(sent.op().acl(0).perms(), kPermRead | kPermAdmin);
  EXPECT_EQ(sent.op().acl(1).id(), storage::DigestId("bob", "pw"));

  absl::StatusOr<AclResult> open = client->GetAcl("/open");
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_THAT(open->acl, ElementsAre(AclEntry{kPermAll, "world", "anyone"}));
  EXPECT_EQ(open->stat.aversion, 0);
  EXPECT_GT(open->stat.czxid, 0u);
  EXPECT_EQ(ErrorCodeOf(client->GetAcl("/missing").status()), ErrorCode::kNoNode);
  EXPECT_EQ(ErrorCodeOf(client->GetAcl("bad").status()), ErrorCode::kInvalidPath);
}

TEST(ClientAcl, SetAclSendsTheAclAndTheExpectedAversion) {
  FakeCluster cluster;
  auto client = ConnectOrDie(FakeClientOptions(cluster));
  ASSERT_TRUE(client->Create("/n", "").ok());
  // Apply decides the outcome (storage/apply); the request is what the
  // client owes.
  client->SetAcl("/n", {AclEntry{kPermRead, "world", "anyone"}}, 0).status().IgnoreError();
  ASSERT_FALSE(cluster.requests("SetAcl").empty());
  v1::SetAclRequest sent;
  ASSERT_TRUE(sent.ParseFromString(cluster.requests("SetAcl").front()));
  EXPECT_EQ(sent.op().path(), "/n");
  ASSERT_EQ(sent.op().acl_size(), 1);
  EXPECT_EQ(sent.op().acl(0).perms(), kPermRead);
  EXPECT_EQ(sent.op().acl(0).scheme(), "world");
  ASSERT_TRUE(sent.op().has_expected_aversion());
  EXPECT_EQ(sent.op().expected_aversion(), 0);
  EXPECT_NE(sent.write().session_id(), 0u);  // exactly-once, as every write
  EXPECT_EQ(ErrorCodeOf(client->SetAcl("bad", {}).status()), ErrorCode::kInvalidPath);
}

TEST(ClientAuthAdmin, UsersAndTheAuthSwitch) {
  FakeCluster cluster;
  auto anon = ConnectOrDie(FakeClientOptions(cluster));
  ASSERT_TRUE(anon->UserAdd("alice", "pw-a", false).ok());
  EXPECT_EQ(ErrorCodeOf(anon->UserAdd("alice", "pw-a", false)), ErrorCode::kUserExists);
  // No superuser yet: auth cannot be enabled.
  EXPECT_EQ(ErrorCodeOf(anon->AuthEnable()), ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(anon->UserAdd("root", "pw-r", true).ok());
  ASSERT_TRUE(anon->AuthEnable().ok());
  absl::StatusOr<bool> enabled = anon->AuthStatus();
  ASSERT_TRUE(enabled.ok());
  EXPECT_TRUE(*enabled);
  EXPECT_EQ(ErrorCodeOf(anon->UserList().status()), ErrorCode::kPermissionDenied);

  auto root = ConnectOrDie(AsUser(cluster, "root", "pw-r"));
  absl::StatusOr<std::vector<UserInfo>> users = root->UserList();
  ASSERT_TRUE(users.ok()) << users.status();
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].name, "alice");
  EXPECT_TRUE((*users)[1].superuser);
  ASSERT_TRUE(root->UserPasswd("alice", "pw-a2").ok());
  ASSERT_TRUE(root->UserDelete("alice").ok());
  EXPECT_EQ(ErrorCodeOf(root->UserDelete("alice")), ErrorCode::kUserNotFound);
  ASSERT_TRUE(root->AuthDisable().ok());
  EXPECT_FALSE(cluster.auth_enabled());
}

}  // namespace
}  // namespace synod
