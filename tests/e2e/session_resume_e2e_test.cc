// End-to-end checks of session liveness and exactly-once writes with real
// replicas being killed: a killed client process loses its ephemeral on
// every replica and fires each replica's child watch once; a live client
// keeps its session across kill -9 of the leader and of its own replica;
// a write retried after the leader died applies once and answers with the
// original result.
#include <signal.h>

#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "synod/v1/session.grpc.pb.h"
#include "tests/e2e/session_calls.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

#ifndef EPHEMERAL_HOLDER
#error "EPHEMERAL_HOLDER must name the ephemeral_holder executable"
#endif

namespace synod::e2e {
namespace {

using ::synod::testing::WaitUntil;

std::string Logs(TestCluster& c) {
  std::string out;
  for (int id = 1; id <= c.size(); ++id) out += c.LogTail(id, 2500) + "\n";
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Short sessions keep these tests quick; the bounds are the server's.
TestCluster::Options ShortSessions() {
  TestCluster::Options options;
  options.extra_flags = {"--min_session_timeout_ms=1000"};
  return options;
}

bool ExistsOnAll(TestCluster& c, const std::string& path, bool want) {
  for (int id : c.RunningIds()) {
    std::string data;
    const v1::ErrorCode code = GetNode(c.tree(id), path, &data, v1::SERIALIZABLE);
    if (code != v1::OK && code != v1::NO_NODE) return false;
    if ((code == v1::OK) != want) return false;
  }
  return true;
}

v1::ErrorCode KeepAliveOnce(TestCluster& c, int id, uint64_t session, const std::string& secret) {
  auto stub = v1::Session::NewStub(c.channel(id));
  auto ctx = Ctx();
  auto stream = stub->KeepAlive(ctx.get());
  v1::KeepAliveRequest beat;
  beat.set_session_id(session);
  beat.set_secret(secret);
  v1::KeepAliveResponse reply;
  if (!stream->Write(beat) || !stream->Read(&reply)) return v1::UNAVAILABLE;
  stream->WritesDone();
  stream->Finish().IgnoreError();  // the reply is what the test looks at
  return reply.header().code();
}

// Sends `request` to member `id` until the outcome is known (not
// UNAVAILABLE / DEADLINE_EXCEEDED), for up to `timeout`.
v1::ErrorCode CreateUntilKnown(TestCluster& c, int id, const v1::CreateRequest& request,
                               v1::CreateResponse* response,
                               absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    response->Clear();
    grpc::Status s = c.tree(id)->Create(Ctx().get(), request, response);
    const v1::ErrorCode code = CodeOf(s, response->header());
    if ((code != v1::UNAVAILABLE && code != v1::DEADLINE_EXCEEDED && code != v1::NOT_LEADER) ||
        absl::Now() > deadline) {
      return code;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

v1::ErrorCode SetUntilKnown(TestCluster& c, int id, const v1::SetRequest& request,
                            v1::SetResponse* response, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    response->Clear();
    grpc::Status s = c.tree(id)->Set(Ctx().get(), request, response);
    const v1::ErrorCode code = CodeOf(s, response->header());
    if ((code != v1::UNAVAILABLE && code != v1::DEADLINE_EXCEEDED && code != v1::NOT_LEADER) ||
        absl::Now() > deadline) {
      return code;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

std::vector<std::string> Children(TestCluster& c, int id, const std::string& path,
                                  uint64_t* revision = nullptr) {
  v1::GetChildrenRequest req;
  req.set_path(path);
  req.mutable_read()->set_consistency(v1::SERIALIZABLE);
  v1::GetChildrenResponse resp;
  grpc::Status s = c.tree(id)->GetChildren(Ctx().get(), req, &resp);
  if (revision != nullptr) *revision = HeaderOf(s, resp.header()).revision();
  if (!s.ok()) return {"<error: " + s.error_message() + ">"};
  return {resp.children().begin(), resp.children().end()};
}

// Polls for `span` that `path` exists on every running member; false as
// soon as it does not.
bool StaysOnAll(TestCluster& c, const std::string& path, absl::Duration span) {
  const absl::Time until = absl::Now() + span;
  while (absl::Now() < until) {
    if (!ExistsOnAll(c, path, true)) return false;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return true;
}

TEST(SessionResumeE2ETest, KilledClientProcessLosesItsEphemeralEverywhere) {
  TestCluster c(ShortSessions());
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  const int follower = leader % 3 + 1;
  ASSERT_EQ(CreateNode(c.tree(leader), "/members", ""), v1::OK) << Logs(c);

  constexpr int64_t kTimeoutMs = 2000;
  testing::TempDir dir("synod-holder-");
  const std::string holder_log = dir.Sub("holder.log");
  testing::Subprocess::Options holder_options;
  holder_options.binary = EPHEMERAL_HOLDER;
  holder_options.args = {c.client_addr(follower), "/members/worker", std::to_string(kTimeoutMs)};
  holder_options.log_path = holder_log;
  absl::StatusOr<testing::Subprocess> holder = testing::Subprocess::Start(holder_options);
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_TRUE(WaitUntil([&] { return absl::StrContains(ReadFile(holder_log), "ready"); },
                        absl::Seconds(20)))
      << ReadFile(holder_log) << Logs(c);

  // One watcher per replica, each with a one-shot child watch on the parent
  // set at the revision of its own read that saw the child (ZooKeeper's
  // getChildren(watch=true)).
  std::vector<std::unique_ptr<WatchStream>> watchers;
  for (int id = 1; id <= 3; ++id) {
    uint64_t revision = 0;
    ASSERT_TRUE(WaitUntil(
        [&] {
          return Children(c, id, "/members", &revision) == std::vector<std::string>{"worker"};
        },
        absl::Seconds(10)))
        << "member " << id;
    watchers.push_back(std::make_unique<WatchStream>(c.channel(id)));
    ASSERT_TRUE(watchers.back()->Create(1, "/members", v1::WATCH_CHILDREN, revision));
    ASSERT_TRUE(watchers.back()->WaitCreated(1, 1, absl::Seconds(10))) << "member " << id;
    ASSERT_FALSE(watchers.back()->Log(1).canceled.has_value())
        << watchers.back()->Log(1).canceled->DebugString();
  }

  const absl::Time killed = absl::Now();
  holder->Kill();
  ASSERT_TRUE(WaitUntil([&] { return ExistsOnAll(c, "/members/worker", false); }, absl::Seconds(20),
                        absl::Milliseconds(10)))
      << Logs(c);
  const absl::Duration gone_after = absl::Now() - killed;
  EXPECT_LE(gone_after, absl::Milliseconds(kTimeoutMs) + absl::Seconds(2)) << Logs(c);
  std::printf("ephemeral gone on every replica %.0f ms after kill -9 (session timeout %lld ms)\n",
              absl::ToDoubleMilliseconds(gone_after), static_cast<long long>(kTimeoutMs));

  for (int i = 0; i < 3; ++i) {
    WatchStream& w = *watchers[i];
    ASSERT_TRUE(w.WaitFor(
        [](const std::map<uint64_t, WatchStream::WatchLog>& logs) {
          auto it = logs.find(1);
          return it != logs.end() && it->second.canceled.has_value();
        },
        absl::Seconds(10)))
        << "watcher on member " << i + 1;
    WatchStream::WatchLog log = w.Log(1);
    ASSERT_EQ(log.events.size(), 1u) << "watcher on member " << i + 1;
    EXPECT_EQ(log.events[0].type(), v1::EVENT_NODE_CHILDREN_CHANGED);
    EXPECT_EQ(log.events[0].path(), "/members");
    EXPECT_EQ(log.canceled->cancel_code(), v1::OK) << log.canceled->DebugString();
    // A sentinel watch registered after the fire: a second child change
    // comes before the sentinel's event, so if the one-shot watch were
    // still armed its second event would be recorded by then.
    ASSERT_TRUE(w.Create(2, "/sentinel", v1::WATCH_EXISTS));
    ASSERT_TRUE(w.WaitCreated(2, 2, absl::Seconds(10)));
  }
  ASSERT_EQ(CreateNode(c.tree(leader), "/members/other", ""), v1::OK);
  ASSERT_EQ(CreateNode(c.tree(leader), "/sentinel", ""), v1::OK);
  for (int i = 0; i < 3; ++i) {
    WatchStream& w = *watchers[i];
    ASSERT_TRUE(w.WaitFor(
        [](const std::map<uint64_t, WatchStream::WatchLog>& logs) {
          auto it = logs.find(2);
          return it != logs.end() && !it->second.events.empty();
        },
        absl::Seconds(10)))
        << "watcher on member " << i + 1;
    WatchStream::WatchLog log = w.Log(1);
    EXPECT_EQ(log.events.size(), 1u) << "watcher on member " << i + 1 << " fired again";
    EXPECT_EQ(log.responses_with_events, 1);
  }
}

TEST(SessionResumeE2ETest, LiveClientKeepsItsSessionAcrossLeaderAndReplicaLoss) {
  TestCluster c(ShortSessions());
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  const int home = leader % 3 + 1;  // the client's replica, a follower
  const int third = home % 3 + 1;   // never the leader

  constexpr int64_t kTimeoutMs = 3000;
  const absl::Duration timeout = absl::Milliseconds(kTimeoutMs);
  v1::OpenSessionResponse session = OpenSession(c.channel(home), kTimeoutMs);
  ASSERT_EQ(session.header().code(), v1::OK) << session.DebugString() << Logs(c);
  ASSERT_EQ(session.timeout_ms(), kTimeoutMs);
  const uint64_t id = session.session_id();
  auto heartbeats =
      std::make_unique<Heartbeater>(c.channel(home), id, session.secret(), absl::Milliseconds(500));
  v1::CreateRequest create;
  create.mutable_op()->set_path("/live");
  create.mutable_op()->set_mode(v1::EPHEMERAL);
  create.mutable_write()->set_session_id(id);
  create.mutable_write()->set_sequence(1);
  create.mutable_write()->set_session_secret(session.secret());
  v1::CreateResponse created;
  ASSERT_EQ(CreateUntilKnown(c, home, create, &created), v1::OK) << Logs(c);
  EXPECT_EQ(created.stat().ephemeral_owner(), id);
  ASSERT_TRUE(WaitUntil([&] { return ExistsOnAll(c, "/live", true); }, absl::Seconds(10)));

  // kill -9 of the leader: the new one restarts the session's clock, and
  // the heartbeats (through the client's follower) reach it.
  c.Kill(leader);
  const int second = c.WaitForLeader(absl::Seconds(20), {home, third});
  ASSERT_NE(second, 0) << Logs(c);
  EXPECT_TRUE(StaysOnAll(c, "/live", 2 * timeout)) << "expired after a leader change\n" << Logs(c);
  EXPECT_EQ(heartbeats->refused(), 0) << v1::ErrorCode_Name(heartbeats->last_refusal());

  // The old leader comes back and learns the node; then the client's own
  // replica dies and the client resumes on the returned one with id +
  // secret.
  ASSERT_TRUE(c.Start(leader).ok()) << Logs(c);
  ASSERT_TRUE(WaitUntil([&] { return ExistsOnAll(c, "/live", true); }, absl::Seconds(20)))
      << Logs(c);
  heartbeats->Stop();
  c.Kill(home);
  ASSERT_NE(c.WaitForLeader(absl::Seconds(20), {leader, third}), 0) << Logs(c);
  EXPECT_EQ(KeepAliveOnce(c, leader, id, "not the secret"), v1::AUTH_FAILED);
  heartbeats = std::make_unique<Heartbeater>(c.channel(leader), id, session.secret(),
                                             absl::Milliseconds(500));
  EXPECT_TRUE(StaysOnAll(c, "/live", 2 * timeout)) << "expired after moving to another replica\n"
                                                   << Logs(c);
  EXPECT_GT(heartbeats->ok(), 0);
  EXPECT_EQ(heartbeats->refused(), 0) << v1::ErrorCode_Name(heartbeats->last_refusal());

  // The resumed session still writes (its next sequence) on its new replica.
  v1::CreateRequest again = create;
  again.mutable_op()->set_path("/live2");
  again.mutable_write()->set_sequence(2);
  ASSERT_EQ(CreateUntilKnown(c, leader, again, &created), v1::OK) << Logs(c);
  EXPECT_EQ(created.stat().ephemeral_owner(), id);

  // It was the heartbeats that kept it: silent, it expires in time.
  heartbeats->Stop();
  const absl::Time silent = absl::Now();
  ASSERT_TRUE(
      WaitUntil([&] { return ExistsOnAll(c, "/live", false) && ExistsOnAll(c, "/live2", false); },
                absl::Seconds(20)))
      << Logs(c);
  EXPECT_LE(absl::Now() - silent, timeout + absl::Seconds(2));
}

TEST(SessionResumeE2ETest, WriteRetriedAfterLeaderKillAppliesOnce) {
  TestCluster c(ShortSessions());
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  ASSERT_EQ(CreateNode(c.tree(leader), "/q", ""), v1::OK);
  ASSERT_EQ(CreateNode(c.tree(leader), "/v", "0"), v1::OK);

  v1::OpenSessionResponse session = OpenSession(c.channel(leader), 10000);
  ASSERT_EQ(session.header().code(), v1::OK) << session.DebugString();
  const uint64_t id = session.session_id();
  uint64_t sequence = 0;
  auto sequential = [&] {
    v1::CreateRequest req;
    req.mutable_op()->set_path("/q/item-");
    req.mutable_op()->set_mode(v1::PERSISTENT_SEQUENTIAL);
    req.mutable_write()->set_session_id(id);
    req.mutable_write()->set_session_secret(session.secret());
    req.mutable_write()->set_sequence(++sequence);
    return req;
  };

  // Round 1: the leader acknowledged, then died; the client, not trusting
  // the reply it may have lost, sends the same writes to a follower.
  v1::CreateRequest create1 = sequential();
  v1::CreateResponse first;
  ASSERT_EQ(CreateUntilKnown(c, leader, create1, &first), v1::OK) << Logs(c);
  v1::SetRequest set;
  set.mutable_op()->set_path("/v");
  set.mutable_op()->set_data("1");
  set.mutable_write()->set_session_id(id);
  set.mutable_write()->set_session_secret(session.secret());
  set.mutable_write()->set_sequence(++sequence);
  v1::SetResponse set_first;
  ASSERT_EQ(SetUntilKnown(c, leader, set, &set_first), v1::OK) << Logs(c);
  ASSERT_EQ(set_first.stat().version(), 1);
  // Only the last write of a session is remembered, so the set is the one
  // retried here; the create is retried in round 2.
  c.Kill(leader);
  const int follower = leader % 3 + 1;
  v1::SetResponse set_retry;
  ASSERT_EQ(SetUntilKnown(c, follower, set, &set_retry), v1::OK) << Logs(c);
  EXPECT_EQ(set_retry.stat().SerializeAsString(), set_first.stat().SerializeAsString())
      << set_retry.stat().DebugString() << " vs " << set_first.stat().DebugString();
  v1::GetRequest get;
  get.set_path("/v");
  v1::GetResponse got;
  ASSERT_TRUE(c.tree(follower)->Get(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.stat().version(), 1) << "the retried set applied twice";
  ASSERT_TRUE(c.Start(leader).ok()) << Logs(c);

  // Round 2: the leader dies while the create is in flight (just after it
  // was sent); the outcome is unknown to the client, which resends it to a
  // follower after the re-election.
  leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  v1::CreateRequest create2 = sequential();
  v1::CreateResponse in_flight;
  grpc::Status in_flight_status;
  std::thread sender(
      [&] { in_flight_status = c.tree(leader)->Create(Ctx().get(), create2, &in_flight); });
  std::mt19937 rng(std::random_device{}());
  absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(0, 5)(rng)));
  c.Kill(leader);
  sender.join();
  const int survivor = leader % 3 + 1;
  v1::CreateResponse retried;
  ASSERT_EQ(CreateUntilKnown(c, survivor, create2, &retried), v1::OK) << Logs(c);
  if (in_flight_status.ok()) {
    EXPECT_EQ(retried.path(), in_flight.path());
    EXPECT_EQ(retried.stat().czxid(), in_flight.stat().czxid());
  }
  std::printf("in-flight create: %s; retry created %s at %llu\n",
              in_flight_status.ok() ? "acknowledged before the kill" : "no reply",
              retried.path().c_str(), static_cast<unsigned long long>(retried.stat().czxid()));
  // A retry of the retry, on the other survivor, answers the same again.
  const int other = 6 - leader - survivor;
  v1::CreateResponse retried_again;
  ASSERT_EQ(CreateUntilKnown(c, other, create2, &retried_again), v1::OK) << Logs(c);
  EXPECT_EQ(retried_again.path(), retried.path());

  // Round 3: both followers are frozen (SIGSTOP) when the create reaches
  // the leader, so it cannot commit and cannot answer; it dies; the
  // followers thaw (they may or may not hold the entry, sent to their
  // sockets while frozen) and elect a leader; the retry applies it once.
  ASSERT_TRUE(c.Start(leader).ok()) << Logs(c);
  leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  const int peer1 = leader % 3 + 1;
  const int peer2 = peer1 % 3 + 1;
  v1::CreateRequest create3 = sequential();
  {
    c.Signal(peer1, SIGSTOP);
    c.Signal(peer2, SIGSTOP);
    struct Thaw {
      TestCluster* c;
      int a, b;
      ~Thaw() {
        c->Signal(a, SIGCONT);
        c->Signal(b, SIGCONT);
      }
    } thaw{&c, peer1, peer2};
    v1::CreateResponse lost;
    grpc::Status lost_status = c.tree(leader)->Create(Ctx(absl::Seconds(1)).get(), create3, &lost);
    EXPECT_FALSE(lost_status.ok()) << "a leader without a quorum acknowledged a write";
    c.Kill(leader);
  }
  v1::CreateResponse third;
  ASSERT_EQ(CreateUntilKnown(c, peer1, create3, &third), v1::OK) << Logs(c);
  ASSERT_TRUE(c.Start(leader).ok()) << Logs(c);

  // Exactly three items, one per round, on every member.
  const std::vector<std::string> items = {first.path().substr(std::string("/q/").size()),
                                          retried.path().substr(std::string("/q/").size()),
                                          third.path().substr(std::string("/q/").size())};
  for (int member = 1; member <= 3; ++member) {
    ASSERT_TRUE(WaitUntil([&] { return Children(c, member, "/q") == items; }, absl::Seconds(20)))
        << "member " << member << " has " << ::testing::PrintToString(Children(c, member, "/q"))
        << ", want " << ::testing::PrintToString(items);
  }
}

}  // namespace
}  // namespace synod::e2e
