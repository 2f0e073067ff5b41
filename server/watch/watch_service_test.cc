// The Watch service over a real in-process gRPC server on 127.0.0.1; the test
// plays the apply thread by feeding the hub.
#include "server/watch/watch_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "storage/path.h"
#include "tests/testing/wait.h"

namespace synod::server {
namespace {

using ::synod::testing::WaitUntil;

class VectorHistory : public EventHistory {
 public:
  absl::StatusOr<EventPage> EventsAfter(uint64_t after, size_t /*limit*/) override {
    absl::MutexLock lock(&mu_);
    EventPage page;
    page.revision = applied_;
    for (const auto& e : events_) {
      if (e.revision() > after) page.events.push_back(e);
    }
    return page;
  }
  void Commit(uint64_t revision, const std::vector<v1::WatchEvent>& events) {
    absl::MutexLock lock(&mu_);
    events_.insert(events_.end(), events.begin(), events.end());
    applied_ = revision;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
};

v1::WatchRequest CreateReq(uint64_t id, const std::string& path, v1::WatchKind kind,
                           uint64_t start = 0) {
  v1::WatchRequest r;
  r.mutable_create()->set_watch_id(id);
  r.mutable_create()->set_path(path);
  r.mutable_create()->set_kind(kind);
  r.mutable_create()->set_start_revision(start);
  return r;
}

v1::WatchRequest CancelReq(uint64_t id) {
  v1::WatchRequest r;
  r.mutable_cancel()->set_watch_id(id);
  return r;
}

using ClientStream = grpc::ClientReaderWriter<v1::WatchRequest, v1::WatchResponse>;

class WatchServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WatchHubOptions options;
    options.validate_path = storage::ValidatePath;
    hub_ = std::make_unique<WatchHub>(options, &history_, &catch_up_, 0);
    service_ = std::make_unique<WatchService>(hub_.get(), [this] {
      v1::ResponseHeader h;
      h.set_member_id(7);
      h.set_leader_id(3);
      h.set_revision(hub_->GetStats().applied_revision);
      return h;
    });
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Watch::NewStub(channel_);
  }

  void TearDown() override {
    if (service_) service_->Shutdown();
    if (server_) server_->Shutdown();
    service_.reset();
    catch_up_.Stop();
    hub_.reset();
  }

  struct Client {
    grpc::ClientContext context;
    std::unique_ptr<ClientStream> stream;
  };
  std::unique_ptr<Client> Connect() {
    auto c = std::make_unique<Client>();
    c->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    c->stream = stub_->Watch(&c->context);
    return c;
  }

  void Apply(v1::EventType type, const std::string& path) {
    ++revision_;
    std::vector<v1::WatchEvent> events(1);
    events[0].set_type(type);
    events[0].set_path(path);
    events[0].set_revision(revision_);
    history_.Commit(revision_, events);
    hub_->OnApplied(revision_, events);
  }

  VectorHistory history_;
  WorkerThread catch_up_;
  std::unique_ptr<WatchHub> hub_;
  std::unique_ptr<WatchService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Watch::Stub> stub_;
  uint64_t revision_ = 0;
};

TEST_F(WatchServiceTest, CreateEventsAndCancelWithHeaders) {
  auto c = Connect();
  ASSERT_TRUE(c->stream->Write(CreateReq(1, "/a", v1::WATCH_PERSISTENT)));
  v1::WatchResponse r;
  ASSERT_TRUE(c->stream->Read(&r));
  EXPECT_EQ(r.watch_id(), 1u);
  EXPECT_TRUE(r.created());
  EXPECT_EQ(r.header().member_id(), 7u);
  EXPECT_EQ(r.header().leader_id(), 3u);

  Apply(v1::EVENT_NODE_DATA_CHANGED, "/a");
  ASSERT_TRUE(c->stream->Read(&r));
  ASSERT_EQ(r.events_size(), 1);
  EXPECT_EQ(r.events(0).revision(), 1u);
  EXPECT_EQ(r.events(0).path(), "/a");
  EXPECT_FALSE(r.canceled());
  // Seeing the event, a client may read at the header's revision.
  EXPECT_GE(r.header().revision(), 1u);

  ASSERT_TRUE(c->stream->Write(CancelReq(1)));
  ASSERT_TRUE(c->stream->Read(&r));
  EXPECT_TRUE(r.canceled());
  EXPECT_EQ(r.cancel_code(), v1::OK);
  ASSERT_TRUE(WaitUntil([&] { return hub_->GetStats().watches == 0; }, absl::Seconds(10)));
}

TEST_F(WatchServiceTest, OneShotFiresOnceAndErrorsComeAsCancels) {
  auto c = Connect();
  ASSERT_TRUE(c->stream->Write(CreateReq(1, "/a", v1::WATCH_DATA)));
  ASSERT_TRUE(c->stream->Write(CreateReq(2, "/b", v1::WATCH_PERSISTENT)));
  ASSERT_TRUE(c->stream->Write(CreateReq(3, "no/slash", v1::WATCH_DATA)));
  v1::WatchResponse r;
  for (uint64_t id : {1, 2}) {
    ASSERT_TRUE(c->stream->Read(&r));
    EXPECT_EQ(r.watch_id(), id);
    EXPECT_TRUE(r.created());
  }
  ASSERT_TRUE(c->stream->Read(&r));
  EXPECT_EQ(r.watch_id(), 3u);
  EXPECT_TRUE(r.canceled());
  EXPECT_EQ(r.cancel_code(), v1::INVALID_PATH);

  Apply(v1::EVENT_NODE_DATA_CHANGED, "/a");  // 1: fires watch 1
  Apply(v1::EVENT_NODE_DATA_CHANGED, "/a");  // 2: nobody
  Apply(v1::EVENT_NODE_DATA_CHANGED, "/b");  // 3
  ASSERT_TRUE(c->stream->Read(&r));
  EXPECT_EQ(r.watch_id(), 1u);
  ASSERT_EQ(r.events_size(), 1);
  EXPECT_EQ(r.events(0).revision(), 1u);
  EXPECT_TRUE(r.canceled());
  ASSERT_TRUE(c->stream->Read(&r));
  EXPECT_EQ(r.watch_id(), 2u);
  ASSERT_EQ(r.events_size(), 1);
  EXPECT_EQ(r.events(0).revision(), 3u);
}

TEST_F(WatchServiceTest, StartRevisionInThePastStreamsHistoryThenLive) {
  for (int i = 0; i < 20; ++i) Apply(v1::EVENT_NODE_DATA_CHANGED, "/a");
  auto c = Connect();
  ASSERT_TRUE(c->stream->Write(CreateReq(1, "/a", v1::WATCH_PERSISTENT, /*start=*/10)));
  std::vector<uint64_t> got;
  v1::WatchResponse r;
  ASSERT_TRUE(c->stream->Read(&r));
  EXPECT_TRUE(r.created());
  while (got.size() < 10 && c->stream->Read(&r)) {
    for (const auto& e : r.events()) got.push_back(e.revision());
  }
  Apply(v1::EVENT_NODE_DATA_CHANGED, "/a");
  ASSERT_TRUE(c->stream->Read(&r));
  for (const auto& e : r.events()) got.push_back(e.revision());
  std::vector<uint64_t> want;
  for (uint64_t rev = 11; rev <= 21; ++rev) want.push_back(rev);
  EXPECT_EQ(got, want);
}

TEST_F(WatchServiceTest, HalfCloseEndsTheStreamAndDropsItsWatches) {
  auto c = Connect();
  ASSERT_TRUE(c->stream->Write(CreateReq(1, "/a", v1::WATCH_PERSISTENT)));
  v1::WatchResponse r;
  ASSERT_TRUE(c->stream->Read(&r));
  EXPECT_EQ(hub_->GetStats().watches, 1u);
  ASSERT_TRUE(c->stream->WritesDone());
  while (c->stream->Read(&r)) {
  }
  EXPECT_TRUE(c->stream->Finish().ok());
  ASSERT_TRUE(
      WaitUntil([&] { return hub_->GetStats().streams == 0 && service_->open_streams() == 0; },
                absl::Seconds(10)));
  EXPECT_EQ(hub_->GetStats().watches, 0u);
}

TEST_F(WatchServiceTest, ClientCancelDropsTheStream) {
  auto c = Connect();
  ASSERT_TRUE(c->stream->Write(CreateReq(1, "/a", v1::WATCH_PERSISTENT)));
  v1::WatchResponse r;
  ASSERT_TRUE(c->stream->Read(&r));
  c->context.TryCancel();
  ASSERT_TRUE(
      WaitUntil([&] { return hub_->GetStats().streams == 0 && service_->open_streams() == 0; },
                absl::Seconds(10)));
  EXPECT_EQ(hub_->GetStats().watches, 0u);
  // Events after the stream went are simply not matched.
  Apply(v1::EVENT_NODE_DATA_CHANGED, "/a");
}

TEST_F(WatchServiceTest, ShutdownFinishesOpenStreamsAndRefusesNewOnes) {
  auto c = Connect();
  ASSERT_TRUE(c->stream->Write(CreateReq(1, "/a", v1::WATCH_PERSISTENT)));
  v1::WatchResponse r;
  ASSERT_TRUE(c->stream->Read(&r));
  service_->Shutdown();
  while (c->stream->Read(&r)) {
  }
  EXPECT_EQ(c->stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);

  auto late = Connect();
  while (late->stream->Read(&r)) {
  }
  EXPECT_EQ(late->stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(WaitUntil([&] { return service_->open_streams() == 0; }, absl::Seconds(10)));
  EXPECT_EQ(hub_->GetStats().streams, 0u);
}

TEST_F(WatchServiceTest, ManyStreamsEachGetTheEventOnce) {
  constexpr int kClients = 50;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(Connect());
    ASSERT_TRUE(clients.back()->stream->Write(CreateReq(1, "/hot", v1::WATCH_DATA)));
  }
  v1::WatchResponse r;
  for (auto& c : clients) {
    ASSERT_TRUE(c->stream->Read(&r));
    ASSERT_TRUE(r.created());
  }
  Apply(v1::EVENT_NODE_DATA_CHANGED, "/hot");
  Apply(v1::EVENT_NODE_DATA_CHANGED, "/hot");
  for (auto& c : clients) {
    ASSERT_TRUE(c->stream->Read(&r));
    ASSERT_EQ(r.events_size(), 1);
    EXPECT_EQ(r.events(0).revision(), 1u);
    EXPECT_TRUE(r.canceled());
    // Nothing else follows: the next response is the reply to this cancel.
    ASSERT_TRUE(c->stream->Write(CancelReq(1)));
    ASSERT_TRUE(c->stream->Read(&r));
    EXPECT_TRUE(r.canceled());
    EXPECT_EQ(r.events_size(), 0);
  }
  EXPECT_EQ(hub_->GetStats().watches, 0u);
}

TEST_F(WatchServiceTest, OneEventToManyWatchesTravelsInOneMessageWhenAsked) {
  constexpr int kWatches = 50;
  auto batching = Connect();
  auto plain = Connect();
  for (int i = 1; i <= kWatches; ++i) {
    v1::WatchRequest req = CreateReq(i, "/hot", v1::WATCH_PERSISTENT);
    req.set_accept_batches(true);
    ASSERT_TRUE(batching->stream->Write(req));
    ASSERT_TRUE(plain->stream->Write(CreateReq(i, "/hot", v1::WATCH_PERSISTENT)));
  }
  // Reads messages until `want` responses with `field` set arrived; returns
  // the message count, checks the watch ids and headers.
  auto read = [&](Client* c, int want, bool (*field)(const v1::WatchResponse&)) {
    std::set<uint64_t> ids;
    int messages = 0;
    v1::WatchResponse r;
    while (static_cast<int>(ids.size()) < want && c->stream->Read(&r)) {
      ++messages;
      EXPECT_EQ(r.header().member_id(), 7u);
      std::vector<const v1::WatchResponse*> all = {&r};
      for (const v1::WatchResponse& more : r.batched()) {
        EXPECT_FALSE(more.has_header());
        all.push_back(&more);
      }
      for (const v1::WatchResponse* one : all) {
        EXPECT_TRUE(field(*one));
        EXPECT_TRUE(ids.insert(one->watch_id()).second) << one->watch_id();
      }
    }
    EXPECT_EQ(static_cast<int>(ids.size()), want);
    return messages;
  };
  auto created = [](const v1::WatchResponse& r) { return r.created(); };
  auto one_event = [](const v1::WatchResponse& r) {
    return r.events_size() == 1 && r.events(0).revision() == 1u;
  };
  read(batching.get(), kWatches, created);
  EXPECT_EQ(read(plain.get(), kWatches, created), kWatches);
  Apply(v1::EVENT_NODE_DATA_CHANGED, "/hot");
  // All 50 responses are queued at once: one write carries them.
  EXPECT_EQ(read(batching.get(), kWatches, one_event), 1);
  // A client that did not ask gets one message per watch, as before.
  EXPECT_EQ(read(plain.get(), kWatches, one_event), kWatches);
}

}  // namespace
}  // namespace synod::server
