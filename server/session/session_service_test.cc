// The Session service over a real in-process gRPC server on 127.0.0.1 and a
// fake backend (the replicated table as a map, proposals completed by the
// test).
#include "server/session/session_service.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace synod::server {
namespace {

class FakeBackend : public SessionBackend {
 public:
  v1::ResponseHeader Header() override {
    v1::ResponseHeader h;
    h.set_member_id(2);
    h.set_leader_id(1);
    absl::MutexLock lock(&mu_);
    h.set_revision(revision_);
    return h;
  }

  void ProposeOpen(int64_t timeout_ms, const v1::Caller& caller,
                   absl::AnyInvocable<void(OpenOutcome) &&> done) override {
    OpenOutcome outcome;
    {
      absl::MutexLock lock(&mu_);
      proposed_timeouts_.push_back(timeout_ms);
      callers_.push_back(caller);
      if (fail_with_ != v1::OK) {
        outcome.code = fail_with_;
        outcome.message = "no leader";
      } else {
        outcome.session_id = ++revision_;
        outcome.secret = "secret-" + std::to_string(outcome.session_id);
        outcome.timeout_ms = timeout_ms;
        table_[outcome.session_id] = {outcome.secret, timeout_ms};
      }
      if (defer_) {
        deferred_open_ = [done = std::move(done), outcome]() mutable {
          std::move(done)(std::move(outcome));
        };
        return;
      }
    }
    std::move(done)(std::move(outcome));
  }

  void ProposeClose(uint64_t id, const v1::Caller& caller,
                    absl::AnyInvocable<void(v1::ErrorCode, std::string) &&> done) override {
    v1::ErrorCode code = v1::OK;
    {
      absl::MutexLock lock(&mu_);
      callers_.push_back(caller);
      ++revision_;
      closed_.push_back(id);
      if (table_.erase(id) == 0) code = v1::SESSION_EXPIRED;
    }
    std::move(done)(code, "");
  }

  absl::StatusOr<SessionLookup> Lookup(uint64_t id) override {
    absl::MutexLock lock(&mu_);
    SessionLookup lookup;
    lookup.revision = revision_;
    if (auto it = table_.find(id); it != table_.end()) {
      lookup.found = true;
      lookup.secret = it->second.first;
      lookup.timeout_ms = it->second.second;
    }
    return lookup;
  }

  void Touch(uint64_t id) override {
    absl::MutexLock lock(&mu_);
    touched_.push_back(id);
  }

  absl::Mutex mu_;
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 100;
  std::map<uint64_t, std::pair<std::string, int64_t>> table_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> proposed_timeouts_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> touched_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> closed_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Caller> callers_ ABSL_GUARDED_BY(mu_);  // of every proposal
  v1::ErrorCode fail_with_ ABSL_GUARDED_BY(mu_) = v1::OK;
  bool defer_ ABSL_GUARDED_BY(mu_) = false;
  absl::AnyInvocable<void() &&> deferred_open_ ABSL_GUARDED_BY(mu_);
};

// The caller a test names in the "test-caller" metadata: digest:<value>,
// "bad" for credentials that fail; anonymous without it.
absl::StatusOr<v1::Caller> TestCallers(const grpc::ServerContextBase& context) {
  v1::Caller caller;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("test-caller");
  if (it == metadata.end()) return caller;
  const std::string value(it->second.data(), it->second.size());
  if (value == "bad") return absl::UnauthenticatedError("bad test credentials");
  v1::Identity* id = caller.add_ids();
  id->set_scheme("digest");
  id->set_id(value);
  return caller;
}

class SessionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_ = std::make_unique<SessionService>(&backend_, TestCallers);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Session::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                     grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  void Deadline(grpc::ClientContext* context) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  }

  grpc::Status Open(int64_t timeout_ms, v1::OpenSessionResponse* response,
                    const std::string& caller = "") {
    grpc::ClientContext context;
    Deadline(&context);
    if (!caller.empty()) context.AddMetadata("test-caller", caller);
    v1::OpenSessionRequest request;
    request.set_timeout_ms(timeout_ms);
    return stub_->Open(&context, request, response);
  }

  FakeBackend backend_;
  std::unique_ptr<SessionService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Session::Stub> stub_;
};

// The service proposes what the client asked for; the bounds are apply's
// (storage/settings_test), so that every replica grants the same timeout.
TEST_F(SessionServiceTest, OpenProposesTheRequestedTimeoutAndAnswersWhatWasGranted) {
  const std::pair<int64_t, int64_t> cases[] = {
      {1000, 1000}, {0, 0}, {-5, -5}, {10000, 10000}, {100000, 100000}};
  for (const auto& [asked, granted] : cases) {
    v1::OpenSessionResponse response;
    ASSERT_TRUE(Open(asked, &response).ok());
    EXPECT_EQ(response.timeout_ms(), granted) << asked;
    EXPECT_NE(response.session_id(), 0u);
    EXPECT_EQ(response.secret(), "secret-" + std::to_string(response.session_id()));
    EXPECT_EQ(response.header().member_id(), 2u);
    EXPECT_EQ(response.header().code(), v1::OK);
  }
  absl::MutexLock lock(&backend_.mu_);
  EXPECT_EQ(backend_.proposed_timeouts_, (std::vector<int64_t>{1000, 0, -5, 10000, 100000}));
}

TEST_F(SessionServiceTest, FailedOpenMapsToAGrpcStatusWithTheHeader) {
  {
    absl::MutexLock lock(&backend_.mu_);
    backend_.fail_with_ = v1::NOT_LEADER;
  }
  v1::OpenSessionResponse response;
  grpc::Status status = Open(5000, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  v1::ResponseHeader header;
  ASSERT_TRUE(header.ParseFromString(status.error_details()));
  EXPECT_EQ(header.code(), v1::NOT_LEADER);
  EXPECT_EQ(header.leader_id(), 1u);
}

TEST_F(SessionServiceTest, OpenCompletesWhenTheProposalDoes) {
  {
    absl::MutexLock lock(&backend_.mu_);
    backend_.defer_ = true;
  }
  // The proposal applies later, on another thread.
  std::thread applier([&] {
    absl::AnyInvocable<void() &&> done;
    {
      absl::MutexLock lock(&backend_.mu_);
      backend_.mu_.Await(absl::Condition(
          +[](FakeBackend* b)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(b->mu_) { return b->deferred_open_ != nullptr; },
          &backend_));
      done = std::move(backend_.deferred_open_);
    }
    std::move(done)();
  });
  v1::OpenSessionResponse response;
  EXPECT_TRUE(Open(8000, &response).ok());
  EXPECT_EQ(response.timeout_ms(), 8000);
  applier.join();
}

TEST_F(SessionServiceTest, KeepAliveRefreshesGoodSessionsAndReportsBadOnes) {
  v1::OpenSessionResponse a, b;
  ASSERT_TRUE(Open(6000, &a).ok());
  ASSERT_TRUE(Open(9000, &b).ok());
  grpc::ClientContext context;
  Deadline(&context);
  auto stream = stub_->KeepAlive(&context);
  auto beat = [&](uint64_t id, const std::string& secret) {
    v1::KeepAliveRequest request;
    request.set_session_id(id);
    request.set_secret(secret);
    EXPECT_TRUE(stream->Write(request));
    v1::KeepAliveResponse response;
    EXPECT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.session_id(), id);
    return response;
  };
  v1::KeepAliveResponse r = beat(a.session_id(), a.secret());
  EXPECT_EQ(r.header().code(), v1::OK);
  EXPECT_EQ(r.timeout_ms(), 6000);
  r = beat(b.session_id(), a.secret());  // a's secret for b
  EXPECT_EQ(r.header().code(), v1::AUTH_FAILED);
  r = beat(b.session_id(), b.secret());  // the stream goes on
  EXPECT_EQ(r.header().code(), v1::OK);
  EXPECT_EQ(r.timeout_ms(), 9000);
  r = beat(50, "x");  // below the applied revision, not in the table
  EXPECT_EQ(r.header().code(), v1::SESSION_EXPIRED);
  r = beat(5000, "x");  // above it: maybe not applied here yet
  EXPECT_EQ(r.header().code(), v1::UNAVAILABLE);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
  absl::MutexLock lock(&backend_.mu_);
  EXPECT_EQ(backend_.touched_, (std::vector<uint64_t>{a.session_id(), b.session_id()}));
}

TEST_F(SessionServiceTest, CloseChecksTheSecretThenProposes) {
  v1::OpenSessionResponse a;
  ASSERT_TRUE(Open(6000, &a).ok());
  auto close = [&](uint64_t id, const std::string& secret) {
    grpc::ClientContext context;
    Deadline(&context);
    v1::CloseSessionRequest request;
    request.set_session_id(id);
    request.set_secret(secret);
    v1::CloseSessionResponse response;
    return stub_->Close(&context, request, &response);
  };
  EXPECT_EQ(close(a.session_id(), "wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  {
    absl::MutexLock lock(&backend_.mu_);
    EXPECT_TRUE(backend_.closed_.empty());
  }
  EXPECT_TRUE(close(a.session_id(), a.secret()).ok());
  grpc::Status again = close(a.session_id(), a.secret());
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::ResponseHeader header;
  ASSERT_TRUE(header.ParseFromString(again.error_details()));
  EXPECT_EQ(header.code(), v1::SESSION_EXPIRED);
  absl::MutexLock lock(&backend_.mu_);
  EXPECT_EQ(backend_.closed_, (std::vector<uint64_t>{a.session_id()}));
}

}  // namespace
}  // namespace synod::server

namespace synod::server {
namespace {

grpc::Status CloseAs(v1::Session::Stub* stub, uint64_t id, const std::string& secret,
                     const std::string& caller, v1::CloseSessionResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  context.AddMetadata("test-caller", caller);
  v1::CloseSessionRequest request;
  request.set_session_id(id);
  request.set_secret(secret);
  return stub->Close(&context, request, response);
}

// Apply gives a session to the identities that opened it and lets only
// them close it: both proposals carry the caller.
TEST_F(SessionServiceTest, OpenAndCloseProposeWithTheirCaller) {
  v1::OpenSessionResponse opened;
  ASSERT_TRUE(Open(6000, &opened, "alice:a=").ok());
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(CloseAs(stub_.get(), opened.session_id(), opened.secret(), "bob:b=", &closed).ok());
  absl::MutexLock lock(&backend_.mu_);
  ASSERT_EQ(backend_.callers_.size(), 2u);
  ASSERT_EQ(backend_.callers_[0].ids_size(), 1);
  EXPECT_EQ(backend_.callers_[0].ids(0).scheme(), "digest");
  EXPECT_EQ(backend_.callers_[0].ids(0).id(), "alice:a=");
  ASSERT_EQ(backend_.callers_[1].ids_size(), 1);
  EXPECT_EQ(backend_.callers_[1].ids(0).id(), "bob:b=");
}

TEST_F(SessionServiceTest, BadCredentialsProposeNothing) {
  v1::OpenSessionResponse opened;
  grpc::Status status = Open(6000, &opened, "bad");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::ResponseHeader header;
  ASSERT_TRUE(header.ParseFromString(status.error_details()));
  EXPECT_EQ(header.code(), v1::UNAUTHENTICATED);
  ASSERT_TRUE(Open(6000, &opened).ok());
  v1::CloseSessionResponse closed;
  status = CloseAs(stub_.get(), opened.session_id(), opened.secret(), "bad", &closed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  absl::MutexLock lock(&backend_.mu_);
  EXPECT_EQ(backend_.proposed_timeouts_.size(), 1u);  // the good open only
  EXPECT_TRUE(backend_.closed_.empty());
}

}  // namespace
}  // namespace synod::server
