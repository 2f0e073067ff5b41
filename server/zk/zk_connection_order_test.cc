// ZkConnection runs a connection's requests in ZooKeeper's session order: a
// read sent behind a write is served once the write was answered, and a
// write sent behind that read waits for it. A fake Tree holds the writes
// until the test answers them; a fake session backend opens sessions.
// getEphemerals and getAllChildrenNumber, which read the store here, wait
// like the other reads until the replica applied what the connection saw.
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/zk/jute.h"
#include "server/zk/records.h"
#include "server/zk/zk_connection.h"
#include "storage/memory_tree_store.h"

namespace synod::zk {
namespace {

class FakeSessions : public server::SessionBackend {
 public:
  v1::ResponseHeader Header() override {
    v1::ResponseHeader h;
    h.set_revision(5);
    return h;
  }
  void ProposeOpen(int64_t timeout_ms, const v1::Caller&,
                   absl::AnyInvocable<void(server::OpenOutcome) &&> done) override {
    std::move(done)(server::OpenOutcome{v1::OK, "", 7, std::string(16, 's'), timeout_ms});
  }
  void ProposeClose(uint64_t, const v1::Caller&,
                    absl::AnyInvocable<void(v1::ErrorCode, std::string) &&> done) override {
    std::move(done)(v1::OK, "");
  }
  absl::StatusOr<server::SessionLookup> Lookup(uint64_t) override {
    return server::SessionLookup{5, true, std::string(16, 's'), 10000};
  }
  void Touch(uint64_t) override {}
};

// Serves reads at once; keeps writes, and exists calls (the wait of the
// reads of the store), until Answer.
class FakeTree {
 public:
  void Serve(const v1::PipelineCall& call, v1::PipelineReply* reply, server::Replier replier) {
    absl::MutexLock lock(&mu_);
    if (call.has_get()) {
      served_.push_back("get " + call.get().path());
      reply->mutable_get()->mutable_header()->set_revision(5);
      replier.Finish(grpc::Status::OK);
      return;
    }
    if (call.has_create()) {
      served_.push_back("create " + call.create().op().path());
      reply->mutable_create()->mutable_header()->set_revision(6);
      reply->mutable_create()->set_path(call.create().op().path());
    } else if (call.has_exists()) {
      served_.push_back("exists " + call.exists().path() + " after " +
                        std::to_string(call.exists().read().min_revision()));
      reply->mutable_exists()->mutable_header()->set_revision(6);
      reply->mutable_exists()->set_exists(true);
    } else if (call.has_set()) {
      served_.push_back("set " + call.set().op().path());
      reply->mutable_set()->mutable_header()->set_revision(7);
    } else if (call.has_sync()) {
      served_.push_back("sync " + call.sync().path());
      reply->mutable_sync()->mutable_header()->set_revision(8);
    } else {
      served_.push_back("other");
    }
    held_.push_back(std::move(replier));
  }
  // Answers the oldest held write. False if none.
  bool Answer() {
    std::vector<server::Replier> one;
    {
      absl::MutexLock lock(&mu_);
      if (held_.empty()) return false;
      one.push_back(std::move(held_.front()));
      held_.erase(held_.begin());
    }
    one.front().Finish(grpc::Status::OK);
    return true;
  }
  std::vector<std::string> served() {
    absl::MutexLock lock(&mu_);
    return served_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> served_ ABSL_GUARDED_BY(mu_);
  std::vector<server::Replier> held_ ABSL_GUARDED_BY(mu_);
};

std::string Request(int32_t xid, int32_t type, const std::string& path) {
  JuteWriter w;
  Encode(w, RequestHeader{xid, type});
  if (type == kOpCreate) {
    Encode(w, CreateRequest{path, "d", {Acl{31, "world", "anyone"}}, 0, 0}, false);
  } else if (type == kOpSetData) {
    Encode(w, SetDataRequest{path, "d", -1});
  } else if (type == kOpGetEphemerals || type == kOpGetAllChildrenNumber || type == kOpSync) {
    Encode(w, PathRequest{path});
  } else {
    Encode(w, PathWatchRequest{path, false});
  }
  return w.Take();
}

// The headers of the framed replies in `out`, in order.
std::vector<ReplyHeader> ReplyHeaders(const std::string& out) {
  std::vector<ReplyHeader> headers;
  JuteReader r(out);
  while (r.remaining() > 0) {
    std::string frame;
    if (!r.ReadBuffer(&frame).ok()) break;
    JuteReader fr(frame);
    ReplyHeader h;
    if (!Decode(fr, &h).ok()) break;
    headers.push_back(h);
  }
  return headers;
}

// The xids of the framed replies in `out`, in order.
std::vector<int32_t> ReplyXids(const std::string& out) {
  std::vector<int32_t> xids;
  for (const ReplyHeader& h : ReplyHeaders(out)) xids.push_back(h.xid);
  return xids;
}

// A connection to `tree` with its session established.
std::shared_ptr<ZkConnection> Connect(ZkContext* context, FakeSessions* sessions, FakeTree* tree,
                                      ZkMetrics* metrics) {
  context->serve = [tree](const v1::PipelineCall& call, const std::shared_ptr<const v1::Caller>&,
                          v1::PipelineReply* reply,
                          server::Replier replier) { tree->Serve(call, reply, replier); };
  context->sessions = sessions;
  context->metrics = metrics;
  auto conn = std::make_shared<ZkConnection>(context, "127.0.0.1", [] {});
  JuteWriter connect;
  Encode(connect, ConnectRequest{0, 0, 10000, 0, std::string(16, '\0'), true, false});
  conn->OnFrame(connect.Take());
  std::string out;
  conn->TakeOutput(&out);
  return conn;
}

TEST(ZkConnectionOrderTest, ReadsWaitForEarlierWritesAndLaterWritesForThem) {
  FakeSessions sessions;
  FakeTree tree;
  ZkContext context;
  context.serve = [&tree](const v1::PipelineCall& call, const std::shared_ptr<const v1::Caller>&,
                          v1::PipelineReply* reply,
                          server::Replier replier) { tree.Serve(call, reply, replier); };
  context.sessions = &sessions;
  ZkMetrics metrics;  // the listener sets one; a connection counts into it
  context.metrics = &metrics;
  auto conn = std::make_shared<ZkConnection>(&context, "127.0.0.1", [] {});
  JuteWriter connect;
  Encode(connect, ConnectRequest{0, 0, 10000, 0, std::string(16, '\0'), true, false});
  conn->OnFrame(connect.Take());
  std::string out;
  ASSERT_FALSE(conn->TakeOutput(&out));
  ASSERT_FALSE(out.empty());  // the ConnectResponse

  conn->OnFrame(Request(1, kOpCreate, "/a"));
  conn->OnFrame(Request(2, kOpGetData, "/a"));
  conn->OnFrame(Request(3, kOpSetData, "/a"));
  conn->OnFrame(Request(4, kOpGetData, "/b"));
  EXPECT_EQ(tree.served(), std::vector<std::string>{"create /a"});
  out.clear();
  conn->TakeOutput(&out);
  EXPECT_TRUE(out.empty());

  // The create answered: the read behind it runs, then the set behind the
  // read; the last read waits for the set.
  ASSERT_TRUE(tree.Answer());
  conn->TakeOutput(&out);
  EXPECT_EQ(tree.served(), (std::vector<std::string>{"create /a", "get /a", "set /a"}));
  EXPECT_EQ(ReplyXids(out), (std::vector<int32_t>{1, 2}));
  out.clear();
  ASSERT_TRUE(tree.Answer());
  conn->TakeOutput(&out);
  EXPECT_EQ(tree.served(),
            (std::vector<std::string>{"create /a", "get /a", "set /a", "get /b"}));
  EXPECT_EQ(ReplyXids(out), (std::vector<int32_t>{3, 4}));

  // With no write in flight, a read is served at once.
  out.clear();
  conn->OnFrame(Request(5, kOpGetData, "/c"));
  EXPECT_EQ(tree.served().back(), "get /c");
  conn->TakeOutput(&out);
  EXPECT_EQ(ReplyXids(out), (std::vector<int32_t>{5}));
  conn->Close();
}

// The replica's store is behind what the connection saw (applied index 0,
// the connection saw revision 6): getEphemerals and getAllChildrenNumber
// answer only after their wait for revision 6 completed.
TEST(ZkConnectionOrderTest, StoreReadsWaitForTheRevisionSeen) {
  FakeSessions sessions;
  FakeTree tree;
  storage::MemoryTreeStore store;
  ZkContext context;
  context.serve = [&tree](const v1::PipelineCall& call, const std::shared_ptr<const v1::Caller>&,
                          v1::PipelineReply* reply,
                          server::Replier replier) { tree.Serve(call, reply, replier); };
  context.sessions = &sessions;
  ZkMetrics metrics;  // the listener sets one; a connection counts into it
  context.metrics = &metrics;
  context.store = &store;
  auto conn = std::make_shared<ZkConnection>(&context, "127.0.0.1", [] {});
  JuteWriter connect;
  Encode(connect, ConnectRequest{0, 0, 10000, 0, std::string(16, '\0'), true, false});
  conn->OnFrame(connect.Take());
  std::string out;
  ASSERT_FALSE(conn->TakeOutput(&out));

  conn->OnFrame(Request(1, kOpCreate, "/a"));
  ASSERT_TRUE(tree.Answer());  // seen: revision 6
  for (const int32_t type : {kOpGetEphemerals, kOpGetAllChildrenNumber}) {
    SCOPED_TRACE(type);
    conn->TakeOutput(&out);
    out.clear();
    conn->OnFrame(Request(2, type, "/"));
    EXPECT_EQ(tree.served().back(), "exists / after 6");
    conn->TakeOutput(&out);
    EXPECT_TRUE(ReplyXids(out).empty());
    ASSERT_TRUE(tree.Answer());
    conn->TakeOutput(&out);
    EXPECT_EQ(ReplyXids(out), (std::vector<int32_t>{2}));
  }
  conn->Close();
}

// Pipelined sync+read pairs (ZooKeeper's linearizable read): every sync is
// sent as it arrives, even past reads waiting for an earlier write, and each
// read waits only for the writes and syncs that arrived before it. Reply
// zxids never go backwards (the fake answers a get with revision 5 after a
// create answered with 6).
TEST(ZkConnectionOrderTest, SyncsRunAheadOfWaitingReadsAndZxidsNeverGoBack) {
  FakeSessions sessions;
  FakeTree tree;
  ZkContext context;
  ZkMetrics metrics;
  auto conn = Connect(&context, &sessions, &tree, &metrics);
  conn->OnFrame(Request(1, kOpCreate, "/a"));
  conn->OnFrame(Request(2, kOpGetData, "/a"));
  conn->OnFrame(Request(3, kOpSync, "/"));
  conn->OnFrame(Request(4, kOpGetData, "/b"));
  conn->OnFrame(Request(5, kOpSync, "/"));
  conn->OnFrame(Request(6, kOpGetData, "/c"));
  EXPECT_EQ(tree.served(), (std::vector<std::string>{"create /a", "sync /", "sync /"}));

  std::string out;
  ASSERT_TRUE(tree.Answer());  // the create: its read runs
  conn->TakeOutput(&out);
  EXPECT_EQ(tree.served().back(), "get /a");
  ASSERT_TRUE(tree.Answer());  // the first sync: the read behind it runs
  conn->TakeOutput(&out);
  EXPECT_EQ(tree.served().back(), "get /b");
  EXPECT_EQ(ReplyXids(out), (std::vector<int32_t>{1, 2, 3, 4}));
  ASSERT_TRUE(tree.Answer());  // the second sync
  conn->TakeOutput(&out);
  EXPECT_EQ(tree.served(), (std::vector<std::string>{"create /a", "sync /", "sync /", "get /a",
                                                     "get /b", "get /c"}));
  const std::vector<ReplyHeader> headers = ReplyHeaders(out);
  ASSERT_EQ(headers.size(), 6u);
  for (size_t i = 0; i < headers.size(); ++i) {
    EXPECT_EQ(headers[i].xid, static_cast<int32_t>(i + 1));
  }
  // create 6, get 5 -> 6, sync 8, get 5 -> 8, sync 8, get 5 -> 8.
  const std::vector<int64_t> want = {6, 6, 8, 8, 8, 8};
  for (size_t i = 0; i < headers.size(); ++i) EXPECT_EQ(headers[i].zxid, want[i]) << i;
  conn->Close();
}

}  // namespace
}  // namespace synod::zk
