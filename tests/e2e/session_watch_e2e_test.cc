// End-to-end checks that sessions and watches are wired into the replica:
// ephemerals vanish on close and on expiry, heartbeats through a follower
// keep a session alive, and a watch on a third replica sees the changes.
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "synod/v1/session.grpc.pb.h"
#include "synod/v1/watch.grpc.pb.h"
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

v1::ErrorCode CreateEphemeral(TestCluster& c, int id, const std::string& path, uint64_t session) {
  v1::CreateRequest req;
  req.mutable_op()->set_path(path);
  req.mutable_op()->set_mode(v1::EPHEMERAL);
  req.mutable_write()->set_session_id(session);
  req.mutable_write()->set_sequence(1);
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
  ASSERT_EQ(CreateEphemeral(c, follower, "/e", opened.session_id()), v1::OK) << Logs(c);
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
  ASSERT_EQ(CreateEphemeral(c, follower, "/e2", second.session_id()), v1::OK);
  v1::CloseSessionRequest close;
  close.set_session_id(second.session_id());
  close.set_secret(second.secret());
  s = sessions->Close(Ctx().get(), close, &closed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::string data;
  EXPECT_EQ(GetNode(c.tree(follower), "/e2", &data, v1::SERIALIZABLE), v1::NO_NODE);
  watch_ctx.TryCancel();
}

}  // namespace
}  // namespace synod::e2e
