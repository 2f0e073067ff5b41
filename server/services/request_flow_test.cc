// RequestFlow's bounds against a whole single-replica synod: admission
// control (pending requests beyond --max_pending_requests are refused at
// once), a min_revision too far ahead refused with REVISION_AHEAD, and a
// read's wait removed when its deadline passes.
#include "server/services/request_flow.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/replica.h"
#include "server/replica_testing.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/testing/http_exchange.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod::server {
namespace {

using ::synod::testing::HttpExchange;
using ::synod::testing::TempDir;
using ::synod::testing::WaitUntil;

// Far enough ahead never to be applied in a test, near enough to be waited
// for (the tests set --max_revision_ahead above it).
constexpr uint64_t kAhead = 500;

class RequestFlowTest : public ::testing::Test {
 protected:
  void Start(ReplicaOptions options) {
    options.metrics_addr = "127.0.0.1:0";
    auto replica = Replica::Start(options);
    ASSERT_TRUE(replica.ok()) << replica.status();
    replica_ = *std::move(replica);
    auto channel = grpc::CreateChannel(options.client_addr, grpc::InsecureChannelCredentials());
    tree_ = v1::Tree::NewStub(channel);
    auto cluster = v1::Cluster::NewStub(channel);
    ASSERT_TRUE(WaitUntil(
        [&] {
          grpc::ClientContext ctx;
          ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
          v1::StatusResponse st;
          return cluster->Status(&ctx, v1::StatusRequest(), &st).ok() &&
                 st.role() == v1::ROLE_LEADER;
        },
        absl::Seconds(10)));
  }

  void TearDown() override {
    if (replica_ != nullptr) replica_->Shutdown();
  }

  // A gauge or counter without labels from /metrics; -1 if absent.
  double Metric(const std::string& name) {
    const std::string text =
        HttpExchange(replica_->metrics_port(), "GET /metrics HTTP/1.0\r\n\r\n");
    const std::string key = absl::StrCat("\n", name, " ");
    const size_t at = text.find(key);
    if (at == std::string::npos) return -1;
    const size_t begin = at + key.size();
    double v = -1;
    if (!absl::SimpleAtod(text.substr(begin, text.find('\n', begin) - begin), &v)) return -1;
    return v;
  }

  uint64_t Applied() {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::GetRequest req;
    req.set_path("/");
    req.mutable_read()->set_consistency(v1::SERIALIZABLE);
    v1::GetResponse resp;
    EXPECT_TRUE(tree_->Get(&ctx, req, &resp).ok());
    return resp.header().revision();
  }

  grpc::Status GetAt(uint64_t min_revision, absl::Duration timeout, v1::GetResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    v1::GetRequest req;
    req.set_path("/");
    req.mutable_read()->set_consistency(v1::SERIALIZABLE);
    req.mutable_read()->set_min_revision(min_revision);
    return tree_->Get(&ctx, req, resp);
  }

  TempDir dir_;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<v1::Tree::Stub> tree_;
};

TEST_F(RequestFlowTest, AMinRevisionFarAheadIsRefusedWithRevisionAhead) {
  ReplicaOptions options = SingleReplicaOptions(dir_);
  options.max_revision_ahead = 1000;
  Start(options);
  v1::GetResponse resp;
  const grpc::Status s = GetAt(uint64_t{1} << 40, absl::Seconds(5), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << s.error_message();
  v1::ResponseHeader header;
  ASSERT_TRUE(header.ParseFromString(s.error_details()));
  EXPECT_EQ(header.code(), v1::REVISION_AHEAD);
  EXPECT_EQ(Metric("synod_read_waits"), 0);
  // Within the bound it is waited for (here until the deadline).
  EXPECT_EQ(GetAt(Applied() + kAhead, absl::Milliseconds(200), &resp).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(RequestFlowTest, AWaitIsRemovedWhenItsDeadlinePasses) {
  Start(SingleReplicaOptions(dir_));
  const uint64_t far = Applied() + kAhead;
  for (int i = 0; i < 20; ++i) {
    v1::GetResponse resp;
    ASSERT_EQ(GetAt(far, absl::Milliseconds(50), &resp).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  // Nothing will apply `far` for a long time: the waits must not stay.
  EXPECT_TRUE(WaitUntil([&] { return Metric("synod_read_waits") == 0; }, absl::Seconds(10)))
      << Metric("synod_read_waits");
  EXPECT_EQ(Metric("synod_pending_requests"), 0);
}

TEST_F(RequestFlowTest, RequestsBeyondThePendingBoundAreRefusedAtOnce) {
  ReplicaOptions options = SingleReplicaOptions(dir_);
  options.max_pending_requests = 3;
  Start(options);
  const uint64_t far = Applied() + kAhead;
  // Three reads that wait (until their deadline) fill the replica.
  struct Waiting {
    grpc::ClientContext ctx;
    v1::GetRequest req;
    v1::GetResponse resp;
  };
  absl::Mutex mu;
  std::vector<grpc::StatusCode> ended;
  std::vector<std::unique_ptr<Waiting>> waiting;
  for (int i = 0; i < 3; ++i) {
    auto w = std::make_unique<Waiting>();
    w->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(3)));
    w->req.set_path("/");
    w->req.mutable_read()->set_consistency(v1::SERIALIZABLE);
    w->req.mutable_read()->set_min_revision(far);
    tree_->async()->Get(&w->ctx, &w->req, &w->resp, [&mu, &ended](grpc::Status s) {
      absl::MutexLock lock(&mu);
      ended.push_back(s.error_code());
    });
    waiting.push_back(std::move(w));
  }
  ASSERT_TRUE(WaitUntil([&] { return Metric("synod_pending_requests") == 3; }, absl::Seconds(10)));
  // A fourth request, read or write, is refused, not queued.
  v1::GetResponse resp;
  grpc::Status s = GetAt(far, absl::Seconds(20), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  v1::ResponseHeader header;
  ASSERT_TRUE(header.ParseFromString(s.error_details()));
  EXPECT_EQ(header.code(), v1::RESOURCE_EXHAUSTED);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::CreateRequest create;
    create.mutable_op()->set_path("/refused");
    v1::CreateResponse created;
    EXPECT_EQ(tree_->Create(&ctx, create, &created).error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  EXPECT_GE(Metric("synod_requests_refused_total"), 2);
  // Once the waiting ones ended (deadline), requests are admitted again.
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::MutexLock lock(&mu);
        return ended.size() == 3;
      },
      absl::Seconds(20)));
  for (grpc::StatusCode code : ended) EXPECT_EQ(code, grpc::StatusCode::DEADLINE_EXCEEDED);
  // The client may see its deadline before the replica ends the request.
  ASSERT_TRUE(WaitUntil([&] { return Metric("synod_pending_requests") == 0; }, absl::Seconds(10)));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::CreateRequest create;
  create.mutable_op()->set_path("/admitted");
  v1::CreateResponse created;
  EXPECT_TRUE(tree_->Create(&ctx, create, &created).ok());
}

}  // namespace
}  // namespace synod::server
