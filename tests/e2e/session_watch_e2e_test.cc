// End-to-end checks that sessions and watches are wired into the replica:
// ephemerals vanish on close and on expiry, heartbeats through a follower
// keep a session alive, and a watch on a third replica sees the changes.
// Also the server-deleted nodes: a TTL node goes after its TTL since its
// last change (never while it has children), a container when its last
// child goes (never before it had one), on every replica.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "synod/v1/session.grpc.pb.h"
#include "synod/v1/watch.grpc.pb.h"
#include "tests/e2e/session_calls.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/wait.h"

namespace synod::e2e {
namespace {

using ::synod::testing::WaitUntil;

std::string Logs(TestCluster& c) {
  std::string out;
  for (int id = 1; id <= c.size(); ++id) out += c.LogTail(id, 2500) + "\n";
  return out;
}

std::unique_ptr<v1::Session::Stub> SessionStub(TestCluster& c, int id) {
  return v1::Session::NewStub(
      grpc::CreateChannel(c.client_addr(id), grpc::InsecureChannelCredentials()));
}

v1::ErrorCode CreateEphemeral(TestCluster& c, int id, const std::string& path,
                              const v1::OpenSessionResponse& session) {
  v1::CreateRequest req;
  req.mutable_op()->set_path(path);
  req.mutable_op()->set_mode(v1::EPHEMERAL);
  req.mutable_write()->set_session_id(session.session_id());
  req.mutable_write()->set_sequence(1);
  req.mutable_write()->set_session_secret(session.secret());
  v1::CreateResponse resp;
  grpc::Status s = c.tree(id)->Create(Ctx().get(), req, &resp);
  return CodeOf(s, resp.header());
}

bool ExistsOnAll(TestCluster& c, const std::string& path, bool want) {
  for (int id : c.RunningIds()) {
    std::string data;
    const v1::ErrorCode code = GetNode(c.tree(id), path, &data, v1::SERIALIZABLE);
    if ((code == v1::OK) != want) return false;
  }
  return true;
}

TEST(SessionWatchE2ETest, EphemeralsFollowTheirSession) {
  TestCluster c({});
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  const int follower = leader % 3 + 1;
  const int third = follower % 3 + 1;

  // A watch on the third replica, on the path the ephemeral will take.
  auto watch_stub = v1::Watch::NewStub(
      grpc::CreateChannel(c.client_addr(third), grpc::InsecureChannelCredentials()));
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto stream = watch_stub->Watch(&watch_ctx);
  v1::WatchRequest create_watch;
  create_watch.mutable_create()->set_watch_id(7);
  create_watch.mutable_create()->set_path("/e");
  create_watch.mutable_create()->set_kind(v1::WATCH_PERSISTENT);
  ASSERT_TRUE(stream->Write(create_watch));
  v1::WatchResponse watch_resp;
  ASSERT_TRUE(stream->Read(&watch_resp));
  EXPECT_TRUE(watch_resp.created()) << watch_resp.DebugString();

  // Open on a follower; the ephemeral appears everywhere.
  auto sessions = SessionStub(c, follower);
  v1::OpenSessionRequest open;
  open.set_timeout_ms(4000);
  v1::OpenSessionResponse opened;
  grpc::Status s = sessions->Open(Ctx().get(), open, &opened);
  ASSERT_TRUE(s.ok()) << s.error_message() << Logs(c);
  ASSERT_NE(opened.session_id(), 0u);
  // Writing through the session takes its secret: ids are guessable.
  v1::OpenSessionResponse guessed = opened;
  guessed.set_secret("not the secret");
  ASSERT_EQ(CreateEphemeral(c, follower, "/e", guessed), v1::AUTH_FAILED) << Logs(c);
  ASSERT_EQ(CreateEphemeral(c, follower, "/e", opened), v1::OK) << Logs(c);
  ASSERT_TRUE(WaitUntil([&] { return ExistsOnAll(c, "/e", true); }, absl::Seconds(10)));
  ASSERT_TRUE(stream->Read(&watch_resp));
  ASSERT_EQ(watch_resp.events_size(), 1) << watch_resp.DebugString();
  EXPECT_EQ(watch_resp.events(0).type(), v1::EVENT_NODE_CREATED);

  // Heartbeats sent to the follower keep it alive well past its timeout.
  {
    grpc::ClientContext ka_ctx;
    ka_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    auto ka = sessions->KeepAlive(&ka_ctx);
    const absl::Time until = absl::Now() + absl::Seconds(9);
    while (absl::Now() < until) {
      v1::KeepAliveRequest beat;
      beat.set_session_id(opened.session_id());
      beat.set_secret(opened.secret());
      ASSERT_TRUE(ka->Write(beat));
      v1::KeepAliveResponse reply;
      ASSERT_TRUE(ka->Read(&reply));
      ASSERT_EQ(reply.header().code(), v1::OK) << reply.DebugString();
      absl::SleepFor(absl::Milliseconds(500));  // a client's heartbeat period
    }
    ka->WritesDone();
    EXPECT_TRUE(ka->Finish().ok());
  }
  EXPECT_TRUE(ExistsOnAll(c, "/e", true)) << "a heartbeated session expired\n" << Logs(c);

  // A wrong secret is refused.
  v1::CloseSessionRequest bad;
  bad.set_session_id(opened.session_id());
  bad.set_secret("wrong");
  v1::CloseSessionResponse closed;
  s = sessions->Close(Ctx().get(), bad, &closed);
  EXPECT_EQ(CodeOf(s, closed.header()), v1::AUTH_FAILED);

  // Silent now: the leader expires it and the ephemeral goes everywhere.
  const absl::Time silent = absl::Now();
  ASSERT_TRUE(WaitUntil([&] { return ExistsOnAll(c, "/e", false); }, absl::Seconds(15))) << Logs(c);
  EXPECT_LT(absl::Now() - silent, absl::Seconds(4 + 3));
  ASSERT_TRUE(stream->Read(&watch_resp));
  ASSERT_EQ(watch_resp.events_size(), 1) << watch_resp.DebugString();
  EXPECT_EQ(watch_resp.events(0).type(), v1::EVENT_NODE_DELETED);

  // Close removes ephemerals at once.
  v1::OpenSessionResponse second;
  ASSERT_TRUE(sessions->Open(Ctx().get(), open, &second).ok());
  ASSERT_EQ(CreateEphemeral(c, follower, "/e2", second), v1::OK);
  v1::CloseSessionRequest close;
  close.set_session_id(second.session_id());
  close.set_secret(second.secret());
  s = sessions->Close(Ctx().get(), close, &closed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::string data;
  EXPECT_EQ(GetNode(c.tree(follower), "/e2", &data, v1::SERIALIZABLE), v1::NO_NODE);
  watch_ctx.TryCancel();
}

v1::ErrorCode CreateWithMode(TestCluster& c, int id, const std::string& path, v1::CreateMode mode,
                             int64_t ttl_ms, v1::CreateResponse* resp) {
  v1::CreateRequest req;
  req.mutable_op()->set_path(path);
  req.mutable_op()->set_mode(mode);
  req.mutable_op()->set_ttl_ms(ttl_ms);
  grpc::Status s = c.tree(id)->Create(Ctx().get(), req, resp);
  return CodeOf(s, resp->header());
}

v1::ErrorCode DeleteNode(TestCluster& c, int id, const std::string& path, uint64_t* revision) {
  v1::DeleteRequest req;
  req.mutable_op()->set_path(path);
  v1::DeleteResponse resp;
  grpc::Status s = c.tree(id)->Delete(Ctx().get(), req, &resp);
  *revision = HeaderOf(s, resp.header()).revision();
  return CodeOf(s, resp.header());
}

// True if `path` stays on every running member for `span` (polled).
bool StaysOnAll(TestCluster& c, const std::string& path, absl::Duration span) {
  // The reads are serializable: a replica that has not applied the create
  // yet does not have the node. Wait until every replica has it first.
  if (!WaitUntil([&] { return ExistsOnAll(c, path, true); }, absl::Seconds(10))) return false;
  const absl::Time until = absl::Now() + span;
  while (absl::Now() < until) {
    if (!ExistsOnAll(c, path, true)) return false;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return true;
}

// Wall-clock ms now (the replicas run on this machine: same clock as the
// leader's timestamps in ctime / mtime).
int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

TEST(SessionWatchE2ETest, TtlAndContainerNodesAreRemovedByTheServer) {
  TestCluster c({});
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  const int follower = leader % 3 + 1;
  constexpr int64_t kTtlMs = 3000;

  // A TTL node with a child outlives its TTL; a TTL node that is set
  // halfway counts its TTL from the set.
  v1::CreateResponse parent;
  ASSERT_EQ(CreateWithMode(c, follower, "/ttl_parent", v1::PERSISTENT_WITH_TTL, kTtlMs, &parent),
            v1::OK)
      << Logs(c);
  ASSERT_EQ(CreateNode(c.tree(follower), "/ttl_parent/child", ""), v1::OK);
  v1::CreateResponse touched;
  ASSERT_EQ(CreateWithMode(c, follower, "/ttl_set", v1::PERSISTENT_WITH_TTL, kTtlMs, &touched),
            v1::OK);
  EXPECT_EQ(touched.stat().mtime(), touched.stat().ctime());
  absl::SleepFor(absl::Milliseconds(kTtlMs / 2));  // the change comes halfway through the TTL
  v1::SetRequest set;
  set.mutable_op()->set_path("/ttl_set");
  set.mutable_op()->set_data("changed");
  v1::SetResponse set_resp;
  ASSERT_TRUE(c.tree(follower)->Set(Ctx().get(), set, &set_resp).ok());
  const int64_t set_mtime = set_resp.stat().mtime();
  ASSERT_GE(set_mtime, touched.stat().mtime() + kTtlMs / 2);

  ASSERT_TRUE(WaitUntil([&] { return ExistsOnAll(c, "/ttl_set", false); }, absl::Seconds(20)))
      << Logs(c);
  const int64_t ttl_set_gone = NowMs();
  EXPECT_GE(ttl_set_gone, set_mtime + kTtlMs) << "deleted before its TTL since the set";
  EXPECT_LE(ttl_set_gone, set_mtime + kTtlMs + 3000) << "deleted late";
  std::printf("TTL node gone on every replica %lld ms after its last change (TTL %lld ms)\n",
              static_cast<long long>(ttl_set_gone - set_mtime), static_cast<long long>(kTtlMs));
  // By now /ttl_parent is well past its TTL, but it has a child.
  ASSERT_GE(NowMs(), parent.stat().mtime() + kTtlMs);
  EXPECT_TRUE(StaysOnAll(c, "/ttl_parent", absl::Seconds(2))) << "TTL node with a child deleted";
  uint64_t revision = 0;
  ASSERT_EQ(DeleteNode(c, follower, "/ttl_parent/child", &revision), v1::OK);
  const int64_t child_gone = NowMs();
  ASSERT_TRUE(WaitUntil([&] { return ExistsOnAll(c, "/ttl_parent", false); }, absl::Seconds(10)))
      << Logs(c);
  EXPECT_LE(NowMs() - child_gone, 3000) << "an expired TTL node outlived its last child by long";

  // A container is never deleted before it had a child...
  v1::CreateResponse container;
  ASSERT_EQ(CreateWithMode(c, follower, "/box", v1::CONTAINER, 0, &container), v1::OK);
  // (several TTL sweeps of the leader, which also looks for empty containers)
  EXPECT_TRUE(StaysOnAll(c, "/box", absl::Seconds(3))) << "empty container deleted";
  ASSERT_EQ(CreateNode(c.tree(follower), "/box/a", ""), v1::OK);
  ASSERT_EQ(CreateNode(c.tree(follower), "/box/b", ""), v1::OK);
  ASSERT_EQ(DeleteNode(c, follower, "/box/a", &revision), v1::OK);
  EXPECT_TRUE(StaysOnAll(c, "/box", absl::Seconds(2))) << "container with a child deleted";

  // ...and goes in the same apply as its last child, on every replica: a
  // persistent watch on it sees its deletion at the child's revision.
  WatchStream watcher(c.channel(follower % 3 + 1));
  ASSERT_TRUE(watcher.Create(1, "/box", v1::WATCH_PERSISTENT));
  ASSERT_TRUE(watcher.Create(2, "/box/b", v1::WATCH_DATA));
  ASSERT_TRUE(watcher.WaitCreated(1, 2, absl::Seconds(10)));
  ASSERT_EQ(DeleteNode(c, follower, "/box/b", &revision), v1::OK);
  std::string data;
  EXPECT_EQ(GetNode(c.tree(follower), "/box", &data, v1::SERIALIZABLE), v1::NO_NODE)
      << "the container outlived the apply of its last child's delete";
  for (int id : c.RunningIds()) {
    v1::GetRequest get;
    get.set_path("/box");
    get.mutable_read()->set_consistency(v1::SERIALIZABLE);
    get.mutable_read()->set_min_revision(revision);
    v1::GetResponse got;
    grpc::Status s = c.tree(id)->Get(Ctx().get(), get, &got);
    EXPECT_EQ(CodeOf(s, got.header()), v1::NO_NODE) << "member " << id;
  }
  ASSERT_TRUE(watcher.WaitFor(
      [](const std::map<uint64_t, WatchStream::WatchLog>& logs) {
        if (!logs.count(1)) return false;
        for (const v1::WatchEvent& e : logs.at(1).events) {
          if (e.type() == v1::EVENT_NODE_DELETED) return true;
        }
        return false;
      },
      absl::Seconds(10)));
  const std::vector<v1::WatchEvent> box = watcher.Log(1).events;
  const std::vector<v1::WatchEvent> child = watcher.Log(2).events;
  ASSERT_EQ(child.size(), 1u);
  EXPECT_EQ(child[0].type(), v1::EVENT_NODE_DELETED);
  EXPECT_EQ(box.back().type(), v1::EVENT_NODE_DELETED);
  EXPECT_EQ(box.back().revision(), child[0].revision()) << "not removed in the child's apply";
}

}  // namespace
}  // namespace synod::e2e
