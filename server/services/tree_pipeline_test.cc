// Tree.Pipeline against a whole single-replica synod: each call answered
// once with its unary RPC's status, the stream's end, flow control, and a
// client that leaves with calls unanswered.
#include "server/services/tree_pipeline.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
using Stream = grpc::ClientReaderWriter<v1::PipelineRequest, v1::PipelineResponse>;

// Never applied in a test, and within --max_revision_ahead, so waited for.
constexpr uint64_t kFarRevision = 50000;

class TreePipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ReplicaOptions options = SingleReplicaOptions(dir_);
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

  std::unique_ptr<Stream> Open(grpc::ClientContext* ctx) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    return tree_->Pipeline(ctx);
  }

  // Reads replies until `n` arrived (or the stream ended), by id.
  static std::map<uint64_t, v1::PipelineReply> ReadReplies(Stream* stream, size_t n,
                                                           std::vector<uint64_t>* order = nullptr) {
    std::map<uint64_t, v1::PipelineReply> got;
    v1::PipelineResponse resp;
    size_t seen = 0;
    while (seen < n && stream->Read(&resp)) {
      for (const v1::PipelineReply& r : resp.replies()) {
        ++seen;
        EXPECT_TRUE(got.emplace(r.id(), r).second) << "call " << r.id() << " answered twice";
        if (order != nullptr) order->push_back(r.id());
      }
    }
    return got;
  }

  // Tree.Get calls this replica has answered, with any code, from /metrics.
  int64_t AnsweredGets() {
    const std::string metrics =
        HttpExchange(replica_->metrics_port(), "GET /metrics HTTP/1.0\r\n\r\n");
    constexpr std::string_view kPrefix =
        R"(synod_api_requests_total{method="/synod.v1.Tree/Get",code=")";
    int64_t total = 0;
    for (size_t at = metrics.find(kPrefix); at != std::string::npos;
         at = metrics.find(kPrefix, at + 1)) {
      const size_t value = metrics.find("} ", at);
      if (value == std::string::npos) break;
      total += std::strtoll(metrics.c_str() + value + 2, nullptr, 10);
    }
    return total;
  }

  static v1::PipelineCall* Add(v1::PipelineRequest* req, uint64_t id) {
    v1::PipelineCall* call = req->add_calls();
    call->set_id(id);
    return call;
  }

  TempDir dir_;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<v1::Tree::Stub> tree_;
};

TEST_F(TreePipelineTest, AnswersEachCallOnceWithItsUnaryStatus) {
  grpc::ClientContext ctx;
  auto stream = Open(&ctx);
  // Writes in one message are proposed in order, so each sees the one before.
  v1::PipelineRequest req;
  Add(&req, 1)->mutable_create()->mutable_op()->set_path("/p");
  v1::SetOp* set = Add(&req, 2)->mutable_set()->mutable_op();
  set->set_path("/p");
  set->set_data("one");
  set->set_expected_version(0);
  v1::SetOp* stale = Add(&req, 3)->mutable_set()->mutable_op();
  stale->set_path("/p");
  stale->set_data("two");
  stale->set_expected_version(0);
  ASSERT_TRUE(stream->Write(req));
  std::map<uint64_t, v1::PipelineReply> got = ReadReplies(stream.get(), 3);
  ASSERT_EQ(got.size(), 3u);
  // Reads (and the rest) once the writes were answered: calls in flight
  // together are concurrent, as unary calls would be.
  req.Clear();
  Add(&req, 4)->mutable_get()->set_path("/p");
  Add(&req, 5)->mutable_get()->set_path("/missing");
  Add(&req, 6);  // no request at all
  Add(&req, 7)->mutable_create()->mutable_op()->set_path("no-slash");
  v1::MultiRequest* multi = Add(&req, 8)->mutable_multi();
  multi->add_ops()->mutable_create()->set_path("/m");
  multi->add_ops()->mutable_delete_()->set_path("/missing");
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  got.merge(ReadReplies(stream.get(), 5));
  ASSERT_EQ(got.size(), 8u);
  EXPECT_EQ(got[1].status_code(), grpc::StatusCode::OK);
  EXPECT_EQ(got[1].create().path(), "/p");
  EXPECT_EQ(got[1].create().stat().version(), 0);
  EXPECT_EQ(got[2].status_code(), grpc::StatusCode::OK) << got[2].status_message();
  EXPECT_EQ(got[2].set().stat().version(), 1);
  EXPECT_EQ(got[3].status_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(got[3].set().header().code(), v1::BAD_VERSION);
  EXPECT_EQ(got[4].status_code(), grpc::StatusCode::OK);
  EXPECT_EQ(got[4].get().data(), "one");
  EXPECT_EQ(got[4].get().header().member_id(), 1u);
  EXPECT_EQ(got[5].status_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(got[5].get().header().code(), v1::NO_NODE);
  EXPECT_EQ(got[6].status_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(got[7].status_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(got[7].create().header().code(), v1::INVALID_PATH);
  // A failed multi ends OK with the per-op results, as its unary RPC does.
  EXPECT_EQ(got[8].status_code(), grpc::StatusCode::OK);
  EXPECT_EQ(got[8].multi().header().code(), v1::NO_NODE);
  ASSERT_EQ(got[8].multi().results_size(), 2);
  EXPECT_EQ(got[8].multi().results(0).code(), v1::ROLLED_BACK);
  // Everything answered and the client half-closed: the stream ends OK.
  EXPECT_TRUE(stream->Finish().ok());
  // Each call is counted as its own RPC, as if it had come unary.
  const std::string metrics =
      HttpExchange(replica_->metrics_port(), "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_NE(metrics.find(R"(synod_api_requests_total{method="/synod.v1.Tree/Set",code="OK"} 1)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(
      metrics.find(R"(synod_api_requests_total{method="/synod.v1.Tree/Set",code="ABORTED"} 1)"),
      std::string::npos);
  EXPECT_NE(
      metrics.find(R"(synod_api_requests_total{method="/synod.v1.Tree/Get",code="NOT_FOUND"} 1)"),
      std::string::npos);
}

TEST_F(TreePipelineTest, AStreamFinishesOnlyAfterItsLastAnswer) {
  grpc::ClientContext ctx;
  auto stream = Open(&ctx);
  v1::PipelineRequest req;
  v1::PipelineCall* wait = Add(&req, 1);
  wait->set_timeout_ms(300);
  wait->mutable_get()->set_path("/");
  wait->mutable_get()->mutable_read()->set_min_revision(kFarRevision);
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  std::map<uint64_t, v1::PipelineReply> got = ReadReplies(stream.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[1].status_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(TreePipelineTest, StopsReadingWhileTooManyCallsAreUnanswered) {
  grpc::ClientContext ctx;
  auto stream = Open(&ctx);
  // More waiting calls than a stream may have unanswered, then a read that
  // would be answered at once if it were read.
  const size_t waiting = PipelineStream::kMaxInFlight + 10;
  v1::PipelineRequest req;
  for (size_t i = 1; i <= waiting; ++i) {
    v1::PipelineCall* call = Add(&req, i);
    call->set_timeout_ms(500);
    call->mutable_get()->set_path("/");
    call->mutable_get()->mutable_read()->set_min_revision(kFarRevision);
  }
  ASSERT_TRUE(stream->Write(req));
  v1::PipelineRequest quick;
  v1::GetRequest* get = Add(&quick, waiting + 1)->mutable_get();
  get->set_path("/");
  get->mutable_read()->set_consistency(v1::SERIALIZABLE);
  ASSERT_TRUE(stream->Write(quick));
  stream->WritesDone();

  std::vector<uint64_t> order;
  std::map<uint64_t, v1::PipelineReply> got = ReadReplies(stream.get(), waiting + 1, &order);
  ASSERT_EQ(got.size(), waiting + 1);
  // The quick read was read only once enough waiting calls had timed out.
  const auto quick_at = std::find(order.begin(), order.end(), waiting + 1) - order.begin();
  EXPECT_GE(static_cast<size_t>(quick_at), waiting + 1 - PipelineStream::kMaxInFlight);
  EXPECT_EQ(got[waiting + 1].status_code(), grpc::StatusCode::OK);
  EXPECT_EQ(got[1].status_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(TreePipelineTest, AClientThatLeavesWithCallsUnansweredHarmsNothing) {
  {
    grpc::ClientContext ctx;
    auto stream = Open(&ctx);
    v1::PipelineRequest req;
    for (uint64_t i = 1; i <= 50; ++i) {
      v1::PipelineCall* call = Add(&req, i);
      call->set_timeout_ms(200);
      call->mutable_get()->set_path("/");
      call->mutable_get()->mutable_read()->set_min_revision(kFarRevision);
    }
    ASSERT_TRUE(stream->Write(req));
    ctx.TryCancel();
    EXPECT_FALSE(stream->Finish().ok());
  }
  absl::SleepFor(absl::Milliseconds(400));  // the abandoned calls time out meanwhile
  grpc::ClientContext ctx;
  auto stream = Open(&ctx);
  v1::PipelineRequest req;
  Add(&req, 1)->mutable_create()->mutable_op()->set_path("/after");
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  std::map<uint64_t, v1::PipelineReply> got = ReadReplies(stream.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[1].status_code(), grpc::StatusCode::OK) << got[1].status_message();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(TreePipelineTest, AClientThatDoesNotReadItsRepliesIsRefusedNotBuffered) {
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::CreateRequest create;
    create.mutable_op()->set_path("/big");
    create.mutable_op()->set_data(std::string(512 << 10, 'x'));
    v1::CreateResponse created;
    ASSERT_TRUE(tree_->Create(&ctx, create, &created).ok());
  }
  grpc::ClientContext ctx;
  auto stream = Open(&ctx);
  // 100 MiB of replies asked for in one message, none read meanwhile: far
  // more than the stream may hold (kMaxQueuedBytes) or gRPC's flow-control
  // window takes.
  constexpr int kCalls = 200;
  v1::PipelineRequest req;
  for (int i = 1; i <= kCalls; ++i) {
    v1::GetRequest* get = Add(&req, i)->mutable_get();
    get->set_path("/big");
    get->mutable_read()->set_consistency(v1::SERIALIZABLE);
  }
  ASSERT_TRUE(stream->Write(req));
  // Read nothing until the replica has answered every call, so that how
  // fast this reader is cannot decide whether the bound is reached.
  ASSERT_TRUE(WaitUntil([&] { return AnsweredGets() >= kCalls; }, absl::Seconds(20)))
      << AnsweredGets() << " of " << kCalls << " gets answered";
  std::map<uint64_t, v1::PipelineReply> got = ReadReplies(stream.get(), kCalls);
  ASSERT_EQ(got.size(), static_cast<size_t>(kCalls));  // each answered once
  int ok = 0;
  int refused = 0;
  for (const auto& [id, reply] : got) {
    if (reply.status_code() == grpc::StatusCode::OK) {
      ++ok;
    } else {
      EXPECT_EQ(reply.status_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << reply.status_message();
      EXPECT_EQ(reply.status_message().rfind("RESOURCE_EXHAUSTED", 0), 0u);
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(ok, 0);
  // Once the replies are read, the stream serves again.
  v1::PipelineRequest again;
  v1::GetRequest* get = Add(&again, kCalls + 1)->mutable_get();
  get->set_path("/big");
  get->mutable_read()->set_consistency(v1::SERIALIZABLE);
  ASSERT_TRUE(stream->Write(again));
  stream->WritesDone();
  got = ReadReplies(stream.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.begin()->second.status_code(), grpc::StatusCode::OK);
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace synod::server
