// AuthService over a real in-process gRPC server, with the log replaced by a
// recorder: what each call proposes and answers, before apply exists.
#include "server/auth/auth_service.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/auth/hash_workers.h"
#include "storage/acl.h"

namespace synod::server {
namespace {

constexpr uint32_t kTestIterations = 1000;

// The Synod code of a reply: a failed call carries its header in the
// status's error details (error_mapping.h).
v1::ErrorCode Code(const grpc::Status& status) {
  if (status.ok()) return v1::OK;
  v1::ResponseHeader header;
  if (!header.ParseFromString(status.error_details())) return v1::INTERNAL;
  return header.code();
}

class AuthServiceTest : public testing::Test {
 protected:
  void Start(AuthService::Options options = {}, AuthOptions auth_options = {}) {
    options.iterations = kTestIterations;
    auth_ = std::make_unique<Authenticator>(
        [this] {
          absl::MutexLock lock(&mu_);
          return state_;
        },
        auth_options);
    service_ = std::make_unique<AuthService>(
        options, auth_.get(), &replica_,
        [this](absl::Time, v1::Command command, RequestTracker::Callback done) {
          v1::CommandResult result;
          {
            absl::MutexLock lock(&mu_);
            proposed_.push_back(std::move(command));
            result.set_code(apply_code_);
          }
          Outcome outcome;
          outcome.result = &result;
          done(outcome);
        });
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Auth::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                                  grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (service_ != nullptr) service_->Stop();
    if (server_ != nullptr) server_->Shutdown();
  }

  void SetState(const v1::AuthState& s) {
    absl::MutexLock lock(&mu_);
    state_ = std::make_shared<const v1::AuthState>(s);
  }

  // A state with users root (superuser) and alice, passwords "<name>-pw".
  v1::AuthState Users(bool enabled) {
    v1::AuthState s;
    s.set_enabled(enabled);
    s.set_token_key(std::string(32, 'k'));
    for (const char* name : {"alice", "root"}) {
      v1::User* u = s.add_users();
      u->set_name(name);
      u->set_superuser(std::string(name) == "root");
      u->set_password_revision(5);
      EXPECT_TRUE(HashPassword(absl::StrCat(name, "-pw"), kTestIterations, u).ok());
    }
    return s;
  }

  std::vector<v1::Command> Proposed() {
    absl::MutexLock lock(&mu_);
    return proposed_;
  }

  std::string Login(const std::string& user, const std::string& password) {
    grpc::ClientContext ctx;
    v1::AuthenticateRequest req;
    req.set_user(user);
    req.set_password(password);
    v1::AuthenticateResponse resp;
    grpc::Status s = stub_->Authenticate(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.token();
  }

  static void Bearer(grpc::ClientContext* ctx, const std::string& token) {
    ctx->AddMetadata("authorization", "Bearer " + token);
  }

  absl::Mutex mu_;
  std::shared_ptr<const v1::AuthState> state_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Command> proposed_ ABSL_GUARDED_BY(mu_);
  v1::ErrorCode apply_code_ ABSL_GUARDED_BY(mu_) = v1::OK;
  ReplicaState replica_{7, 1};
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<AuthService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Auth::Stub> stub_;
};

TEST_F(AuthServiceTest, UserAddProposesAHashNeverThePassword) {
  Start();
  grpc::ClientContext ctx;
  ctx.AddMetadata("synod-digest", "bob:x");
  v1::UserAddRequest req;
  req.set_name("alice");
  req.set_password("correct horse");
  req.set_superuser(true);
  v1::UserAddResponse resp;
  ASSERT_TRUE(stub_->UserAdd(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.header().code(), v1::OK);
  const std::vector<v1::Command> proposed = Proposed();
  ASSERT_EQ(proposed.size(), 1u);
  const v1::Command& c = proposed[0];
  ASSERT_TRUE(c.has_user_put());
  EXPECT_TRUE(c.user_put().create());
  EXPECT_EQ(c.user_put().user().name(), "alice");
  EXPECT_TRUE(c.user_put().user().superuser());
  EXPECT_EQ(c.user_put().user().iterations(), kTestIterations);
  EXPECT_TRUE(CheckPassword(c.user_put().user(), "correct horse"));
  EXPECT_EQ(c.user_put().token_key().size(), 32u);
  EXPECT_EQ(c.SerializeAsString().find("correct horse"), std::string::npos);
  bool digest = false;
  bool ip = false;
  for (const v1::Identity& id : c.caller().ids()) {
    digest |= id.scheme() == "digest" && id.id() == storage::DigestId("bob", "x");
    ip |= id.scheme() == "ip" && id.id() == "127.0.0.1";
  }
  EXPECT_TRUE(digest);
  EXPECT_TRUE(ip);
}

TEST_F(AuthServiceTest, EachUserPutGetsItsOwnKeyAndSalt) {
  Start();
  for (const char* name : {"a", "b"}) {
    grpc::ClientContext ctx;
    v1::UserAddRequest req;
    req.set_name(name);
    req.set_password("pw");
    v1::UserAddResponse resp;
    ASSERT_TRUE(stub_->UserAdd(&ctx, req, &resp).ok());
  }
  const std::vector<v1::Command> p = Proposed();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_NE(p[0].user_put().token_key(), p[1].user_put().token_key());
  EXPECT_NE(p[0].user_put().user().salt(), p[1].user_put().user().salt());
}

TEST_F(AuthServiceTest, ApplyOutcomeIsTheAnswer) {
  Start();
  {
    absl::MutexLock lock(&mu_);
    apply_code_ = v1::USER_EXISTS;
  }
  grpc::ClientContext ctx;
  v1::UserAddRequest req;
  req.set_name("alice");
  req.set_password("pw");
  v1::UserAddResponse resp;
  grpc::Status s = stub_->UserAdd(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Code(s), v1::USER_EXISTS);
}

TEST_F(AuthServiceTest, BadInputIsRefusedAndProposesNothing) {
  Start();
  SetState(Users(false));
  struct Case {
    std::string name;
    std::string password;
    v1::ErrorCode code;
  };
  for (const Case& c : std::vector<Case>{{"", "pw", v1::INVALID_ARGUMENT},
                                         {"a:b", "pw", v1::INVALID_ARGUMENT},
                                         {std::string(129, 'a'), "pw", v1::INVALID_ARGUMENT},
                                         {"carol", "", v1::INVALID_ARGUMENT},
                                         {"carol", std::string(kMaxPasswordBytes + 1, 'p'),
                                          v1::INVALID_ARGUMENT},
                                         {"alice", "pw", v1::USER_EXISTS}}) {
    grpc::ClientContext ctx;
    v1::UserAddRequest req;
    req.set_name(c.name);
    req.set_password(c.password);
    v1::UserAddResponse resp;
    EXPECT_EQ(Code(stub_->UserAdd(&ctx, req, &resp)), c.code) << c.name;
  }
  grpc::ClientContext ctx;
  v1::UserPasswdRequest req;
  req.set_name("nobody");
  req.set_password("pw");
  v1::UserPasswdResponse resp;
  grpc::Status s = stub_->UserPasswd(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Code(s), v1::USER_NOT_FOUND);
  EXPECT_TRUE(Proposed().empty());
}

TEST_F(AuthServiceTest, AuthenticateIssuesATokenOtherCallsAccept) {
  Start();
  SetState(Users(true));
  const std::string token = Login("alice", "alice-pw");
  ASSERT_FALSE(token.empty());
  grpc::ClientContext ctx;
  Bearer(&ctx, token);
  v1::WhoAmIResponse who;
  ASSERT_TRUE(stub_->WhoAmI(&ctx, v1::WhoAmIRequest(), &who).ok());
  bool alice = false;
  for (const v1::Identity& id : who.ids()) alice |= id.scheme() == "user" && id.id() == "alice";
  EXPECT_TRUE(alice);
  EXPECT_FALSE(who.superuser());
}

TEST_F(AuthServiceTest, WrongPasswordAndUnknownUserAnswerAlike) {
  Start();
  SetState(Users(true));
  std::string messages[2];
  int i = 0;
  for (const char* user : {"alice", "nobody"}) {
    grpc::ClientContext ctx;
    v1::AuthenticateRequest req;
    req.set_user(user);
    req.set_password("guess");
    v1::AuthenticateResponse resp;
    grpc::Status s = stub_->Authenticate(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(Code(s), v1::UNAUTHENTICATED);
    EXPECT_TRUE(resp.token().empty());
    messages[i++] = s.error_message();
  }
  EXPECT_EQ(messages[0], messages[1]);
}

TEST_F(AuthServiceTest, ForgedTokenIsUnauthenticated) {
  Start();
  SetState(Users(true));
  grpc::ClientContext ctx;
  Bearer(&ctx, "AAAA.BBBB");
  v1::WhoAmIResponse who;
  EXPECT_EQ(stub_->WhoAmI(&ctx, v1::WhoAmIRequest(), &who).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AuthServiceTest, AuthEnableNeedsASuperuserUser) {
  Start();
  v1::AuthState no_super = Users(false);
  no_super.mutable_users(1)->set_superuser(false);
  SetState(no_super);
  {
    grpc::ClientContext ctx;
    v1::AuthEnableResponse resp;
    grpc::Status s = stub_->AuthEnable(&ctx, v1::AuthEnableRequest(), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(Code(s), v1::FAILED_PRECONDITION);
    EXPECT_TRUE(Proposed().empty());
  }
  SetState(Users(false));
  grpc::ClientContext ctx;
  v1::AuthEnableResponse resp;
  ASSERT_TRUE(stub_->AuthEnable(&ctx, v1::AuthEnableRequest(), &resp).ok());
  const std::vector<v1::Command> p = Proposed();
  ASSERT_EQ(p.size(), 1u);
  ASSERT_TRUE(p[0].has_auth_set());
  EXPECT_TRUE(p[0].auth_set().enabled());
  EXPECT_EQ(p[0].auth_set().token_key().size(), 32u);
}

TEST_F(AuthServiceTest, WhileEnabledUserManagementNeedsTheAdminRight) {
  Start();
  SetState(Users(true));
  const std::string alice = Login("alice", "alice-pw");
  const std::string root = Login("root", "root-pw");
  auto add = [&](const std::string& token) {
    grpc::ClientContext ctx;
    if (!token.empty()) Bearer(&ctx, token);
    v1::UserAddRequest req;
    req.set_name("carol");
    req.set_password("pw");
    v1::UserAddResponse resp;
    return stub_->UserAdd(&ctx, req, &resp).error_code();
  };
  EXPECT_EQ(add(""), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(add(alice), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Proposed().empty());
  EXPECT_EQ(add(root), grpc::StatusCode::OK);
  ASSERT_EQ(Proposed().size(), 1u);
  EXPECT_TRUE(Proposed()[0].caller().superuser());

  for (auto* call : {+[](v1::Auth::Stub* s, grpc::ClientContext* c) {
                       v1::AuthDisableResponse r;
                       return s->AuthDisable(c, v1::AuthDisableRequest(), &r).error_code();
                     },
                     +[](v1::Auth::Stub* s, grpc::ClientContext* c) {
                       v1::UserListResponse r;
                       return s->UserList(c, v1::UserListRequest(), &r).error_code();
                     },
                     +[](v1::Auth::Stub* s, grpc::ClientContext* c) {
                       v1::UserDeleteRequest q;
                       q.set_name("root");
                       v1::UserDeleteResponse r;
                       return s->UserDelete(c, q, &r).error_code();
                     }}) {
    grpc::ClientContext ctx;
    Bearer(&ctx, alice);
    EXPECT_EQ(call(stub_.get(), &ctx), grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_EQ(Proposed().size(), 1u);
}

TEST_F(AuthServiceTest, AUserMayChangeOnlyItsOwnPassword) {
  Start();
  SetState(Users(true));
  const std::string alice = Login("alice", "alice-pw");
  auto passwd = [&](const std::string& name) {
    grpc::ClientContext ctx;
    Bearer(&ctx, alice);
    v1::UserPasswdRequest req;
    req.set_name(name);
    req.set_password("new-pw");
    v1::UserPasswdResponse resp;
    return stub_->UserPasswd(&ctx, req, &resp).error_code();
  };
  EXPECT_EQ(passwd("root"), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(passwd("alice"), grpc::StatusCode::OK);
  const std::vector<v1::Command> p = Proposed();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_FALSE(p[0].user_put().create());
  EXPECT_FALSE(p[0].user_put().user().superuser());
  EXPECT_TRUE(CheckPassword(p[0].user_put().user(), "new-pw"));
}

TEST_F(AuthServiceTest, SuperuserDigestHoldsTheAdminRight) {
  AuthOptions auth_options;
  auth_options.superuser_digest = storage::DigestId("super", "secret");
  Start({}, auth_options);
  SetState(Users(true));
  grpc::ClientContext ctx;
  ctx.AddMetadata("synod-digest", "super:secret");
  v1::UserListResponse resp;
  ASSERT_TRUE(stub_->UserList(&ctx, v1::UserListRequest(), &resp).ok());
  ASSERT_EQ(resp.users_size(), 2);
  EXPECT_EQ(resp.users(0).name(), "alice");
  EXPECT_TRUE(resp.users(1).superuser());
}

TEST_F(AuthServiceTest, FullPasswordQueueAnswersResourceExhausted) {
  AuthService::Options options;
  options.max_queued = 0;
  Start(options);
  SetState(Users(false));
  grpc::ClientContext ctx;
  v1::AuthenticateRequest req;
  req.set_user("alice");
  req.set_password("alice-pw");
  v1::AuthenticateResponse resp;
  grpc::Status s = stub_->Authenticate(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Code(s), v1::RESOURCE_EXHAUSTED);
}

TEST(HashWorkersTest, QueueIsBoundedAndStopRunsWhatIsQueued) {
  HashWorkers workers(1, 1);
  absl::Notification started;
  absl::Notification release;
  ASSERT_TRUE(workers.TrySubmit([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();
  bool queued_ran = false;
  ASSERT_TRUE(workers.TrySubmit([&] { queued_ran = true; }));
  EXPECT_FALSE(workers.TrySubmit([] {}));
  release.Notify();
  workers.Stop();
  EXPECT_TRUE(queued_ran);
  EXPECT_FALSE(workers.TrySubmit([] {}));
}

}  // namespace
}  // namespace synod::server
