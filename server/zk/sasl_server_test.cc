// ZkSaslServer against Cyrus's own DIGEST-MD5 client, token by token, as
// the sasl op would carry them: the right password authenticates as the
// user, a wrong one or an unknown user fails, the exchange is bounded.
#include "server/zk/sasl_server.h"

#include <sasl/sasl.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace synod::zk {
namespace {

// Cyrus's client side, told a user name and password by callbacks, with
// the service and host ZooKeeper's Java client uses.
class DigestClient {
 public:
  DigestClient(std::string user, std::string password)
      : user_(std::move(user)), password_(std::move(password)) {
    static const int init = sasl_client_init(nullptr);
    EXPECT_EQ(init, SASL_OK);
    secret_ = static_cast<sasl_secret_t*>(std::malloc(sizeof(sasl_secret_t) + password_.size()));
    secret_->len = password_.size();
    std::memcpy(secret_->data, password_.data(), password_.size());
    callbacks_[0] = {SASL_CB_USER, Fn(&Name), this};
    callbacks_[1] = {SASL_CB_AUTHNAME, Fn(&Name), this};
    callbacks_[2] = {SASL_CB_PASS, Fn(&Secret), this};
    callbacks_[3] = {SASL_CB_LIST_END, nullptr, nullptr};
    EXPECT_EQ(sasl_client_new("zookeeper", "zk-sasl-server", nullptr, nullptr, callbacks_, 0,
                              &conn_),
              SASL_OK);
  }
  ~DigestClient() {
    sasl_dispose(&conn_);
    std::free(secret_);
  }

  // The first token (DIGEST-MD5's client has none: empty).
  std::string Start() {
    const char* out = nullptr;
    unsigned len = 0;
    const char* mech = nullptr;
    EXPECT_EQ(sasl_client_start(conn_, "DIGEST-MD5", nullptr, &out, &len, &mech), SASL_CONTINUE);
    return std::string(out == nullptr ? "" : out, len);
  }
  // The answer to a server token; `rc` gets Cyrus's result.
  std::string Step(const std::string& challenge, int* rc) {
    const char* out = nullptr;
    unsigned len = 0;
    *rc = sasl_client_step(conn_, challenge.data(), challenge.size(), nullptr, &out, &len);
    return std::string(out == nullptr ? "" : out, len);
  }

 private:
  template <typename F>
  static int (*Fn(F* f))() {
    return reinterpret_cast<int (*)()>(reinterpret_cast<void (*)()>(f));
  }
  static int Name(void* context, int /*id*/, const char** result, unsigned* len) {
    auto* self = static_cast<DigestClient*>(context);
    *result = self->user_.c_str();
    if (len != nullptr) *len = self->user_.size();
    return SASL_OK;
  }
  static int Secret(sasl_conn_t*, void* context, int /*id*/, sasl_secret_t** out) {
    *out = static_cast<DigestClient*>(context)->secret_;
    return SASL_OK;
  }

  std::string user_;
  std::string password_;
  sasl_secret_t* secret_ = nullptr;
  sasl_callback_t callbacks_[4];
  sasl_conn_t* conn_ = nullptr;
};

const SaslUsers kUsers = {{"alice", "alice-secret"}, {"bob", "bob-secret"}};

TEST(ZkSaslServer, RightPasswordAuthenticatesAsTheUser) {
  ASSERT_TRUE(InitSaslServer().ok()) << InitSaslServer();
  absl::StatusOr<std::unique_ptr<ZkSaslServer>> server = ZkSaslServer::Create(&kUsers);
  ASSERT_TRUE(server.ok()) << server.status();
  DigestClient client("alice", "alice-secret");

  absl::StatusOr<ZkSaslServer::Step> challenge = (*server)->Evaluate(client.Start());
  ASSERT_TRUE(challenge.ok()) << challenge.status();
  EXPECT_FALSE(challenge->complete);
  EXPECT_NE(challenge->challenge.find("qop=\"auth\""), std::string::npos) << challenge->challenge;
  int rc = 0;
  const std::string response = client.Step(challenge->challenge, &rc);
  ASSERT_EQ(rc, SASL_CONTINUE);
  absl::StatusOr<ZkSaslServer::Step> done = (*server)->Evaluate(response);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(done->complete);
  EXPECT_EQ(done->user, "alice");
  // The client checks the server's rspauth: the server knew the password.
  client.Step(done->challenge, &rc);
  EXPECT_EQ(rc, SASL_OK);
  // One exchange per connection.
  EXPECT_EQ((*server)->Evaluate("").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ZkSaslServer, WrongPasswordOrUnknownUserFails) {
  for (const auto& [user, password] : {std::pair<std::string, std::string>{"alice", "bob-secret"},
                                       {"carol", "alice-secret"}}) {
    absl::StatusOr<std::unique_ptr<ZkSaslServer>> server = ZkSaslServer::Create(&kUsers);
    ASSERT_TRUE(server.ok()) << server.status();
    DigestClient client(user, password);
    absl::StatusOr<ZkSaslServer::Step> challenge = (*server)->Evaluate(client.Start());
    ASSERT_TRUE(challenge.ok()) << challenge.status();
    int rc = 0;
    const std::string response = client.Step(challenge->challenge, &rc);
    ASSERT_EQ(rc, SASL_CONTINUE);
    absl::StatusOr<ZkSaslServer::Step> done = (*server)->Evaluate(response);
    EXPECT_EQ(done.status().code(), absl::StatusCode::kUnauthenticated) << user;
    EXPECT_EQ(done.status().message().find(password), std::string::npos);
    EXPECT_EQ((*server)->Evaluate(response).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
}

TEST(ZkSaslServer, GarbageFailsAndStepsAreBounded) {
  absl::StatusOr<std::unique_ptr<ZkSaslServer>> server = ZkSaslServer::Create(&kUsers);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Evaluate("").ok());
  EXPECT_EQ((*server)->Evaluate("not a digest response").status().code(),
            absl::StatusCode::kUnauthenticated);

  // A client that keeps sending empty first tokens never gets past the
  // step bound.
  absl::StatusOr<std::unique_ptr<ZkSaslServer>> again = ZkSaslServer::Create(&kUsers);
  ASSERT_TRUE(again.ok()) << again.status();
  int refused = 0;
  for (int i = 0; i < kMaxSaslSteps + 2; ++i) refused += (*again)->Evaluate("").ok() ? 0 : 1;
  EXPECT_GE(refused, 2);
}

}  // namespace
}  // namespace synod::zk
