// Sessions and watches of synod::Client against FakeCluster: state changes
// reach listeners, a session survives the loss of its replica (resume with id
// + secret elsewhere), expiry is reported, watches resume after a broken
// stream or an overflow with no event missed or repeated.
#include <atomic>
#include <set>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "synod/client.h"
#include "synod/v1/tree.pb.h"
#include "tests/testing/wait.h"

namespace synod {
namespace {

using client::testing::FakeCluster;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

Client::Options OptionsFor(const FakeCluster& cluster) {
  return client::testing::FakeClientOptions(cluster);
}

std::unique_ptr<Client> Connect(Client::Options o) {
  return client::testing::ConnectOrDie(std::move(o));
}

// Records what a listener or watch saw, for polling from the test thread.
template <typename T>
class Recorder {
 public:
  void Add(T v) {
    absl::MutexLock lock(&mu_);
    items_.push_back(std::move(v));
  }
  std::vector<T> Get() const {
    absl::MutexLock lock(&mu_);
    return items_;
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return items_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<T> items_;
};

bool Eventually(const std::function<bool()>& cond) {
  return testing::WaitUntil(cond, absl::Seconds(10), absl::Milliseconds(5));
}

TEST(Session, OpensLazilyAndReportsConnected) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  Recorder<SessionState> states;
  client->AddSessionListener([&](SessionState s, uint64_t) { states.Add(s); });
  EXPECT_EQ(client->session_id(), 0u);
  ASSERT_TRUE(client->Create("/x", "").ok());
  EXPECT_NE(client->session_id(), 0u);
  EXPECT_EQ(client->session_timeout(), absl::Milliseconds(600));
  EXPECT_TRUE(Eventually([&] { return states.size() >= 1; }));
  EXPECT_EQ(states.Get().front(), SessionState::kConnected);
  EXPECT_THAT(cluster.sessions(), ElementsAre(client->session_id()));
  // Heartbeats flow.
  EXPECT_TRUE(Eventually([&] { return cluster.calls(1, "KeepAlive") >= 1; }));
}

TEST(Session, ExpiryIsReportedAndANewSessionFollows) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  Recorder<SessionState> states;
  client->AddSessionListener([&](SessionState s, uint64_t) { states.Add(s); });
  absl::StatusOr<uint64_t> first = client->EnsureSession();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(client->Create("/eph", "", {CreateMode::kEphemeral}).ok());

  cluster.ExpireSession(*first);
  EXPECT_FALSE(cluster.data("/eph").has_value());
  ASSERT_TRUE(Eventually([&] { return client->session_state() == SessionState::kExpired; }));
  EXPECT_EQ(client->session_id(), 0u);
  ASSERT_TRUE(Eventually([&] { return states.size() >= 2; }));
  EXPECT_THAT(states.Get(), ElementsAre(SessionState::kConnected, SessionState::kExpired));

  absl::StatusOr<CreateResult> again = client->Create("/eph", "", {CreateMode::kEphemeral});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->stat.ephemeral_owner, *first);
  EXPECT_EQ(again->stat.ephemeral_owner, client->session_id());
}

TEST(Session, ResumesOnAnotherReplicaWhenItsStreamBreaks) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  Recorder<SessionState> states;
  client->AddSessionListener([&](SessionState s, uint64_t) { states.Add(s); });
  ASSERT_TRUE(client->Create("/eph", "", {CreateMode::kEphemeral}).ok());
  const uint64_t id = client->session_id();
  ASSERT_TRUE(Eventually([&] { return cluster.keepalive_member(id) == 1; }));

  cluster.Stop(1);
  ASSERT_TRUE(Eventually([&] { return cluster.keepalive_member(id) == 2; }));
  ASSERT_TRUE(Eventually([&] { return client->session_state() == SessionState::kConnected; }));
  EXPECT_EQ(client->session_id(), id);
  EXPECT_TRUE(cluster.data("/eph").has_value());
  // Listeners run on the callback thread: wait for them to catch up.
  ASSERT_TRUE(Eventually([&] {
    std::vector<SessionState> s = states.Get();
    return !s.empty() && s.back() == SessionState::kConnected;
  }));
  EXPECT_THAT(states.Get(), Contains(SessionState::kSuspended));
  EXPECT_THAT(states.Get(), Not(Contains(SessionState::kExpired)));
}

TEST(Session, LeavesASilentReplica) {
  FakeCluster cluster;
  Client::Options o = OptionsFor(cluster);
  // Room between "silent for timeout/2: move" and "silent for a timeout:
  // expired", also in slow (sanitizer) builds.
  o.session_timeout = absl::Seconds(2);
  auto client = Connect(o);
  Recorder<SessionState> states;
  client->AddSessionListener([&](SessionState s, uint64_t) { states.Add(s); });
  absl::StatusOr<uint64_t> id = client->EnsureSession();
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(Eventually([&] { return cluster.keepalive_member(*id) == 1; }));
  // Member 1 keeps the connection but stops answering heartbeats (a
  // partition that TCP does not notice).
  cluster.Hang(1, "KeepAlive");
  ASSERT_TRUE(Eventually([&] { return cluster.keepalive_member(*id) == 2; }));
  EXPECT_EQ(client->session_id(), *id);
  EXPECT_THAT(states.Get(), Not(Contains(SessionState::kExpired)));
  cluster.ReleaseHangs();
}

TEST(Session, ExpiresLocallyWhenNoReplicaAnswersForATimeout) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  absl::StatusOr<uint64_t> id = client->EnsureSession();
  ASSERT_TRUE(id.ok());
  for (uint64_t m = 1; m <= 3; ++m) cluster.Hang(m, "KeepAlive");
  const absl::Time start = absl::Now();
  ASSERT_TRUE(Eventually([&] { return client->session_state() == SessionState::kExpired; }));
  // Not before a whole timeout without an acknowledgement.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  cluster.ReleaseHangs();
}

TEST(Session, CloseAndDestructionEndTheSession) {
  FakeCluster cluster;
  {
    auto client = Connect(OptionsFor(cluster));
    ASSERT_TRUE(client->Create("/a", "", {CreateMode::kEphemeral}).ok());
    ASSERT_TRUE(client->CloseSession().ok());
    EXPECT_EQ(client->session_state(), SessionState::kClosed);
    EXPECT_FALSE(cluster.data("/a").has_value());
    EXPECT_TRUE(cluster.sessions().empty());
    ASSERT_TRUE(client->Create("/b", "", {CreateMode::kEphemeral}).ok());
    EXPECT_EQ(cluster.sessions().size(), 1u);
  }
  EXPECT_TRUE(cluster.sessions().empty());
  EXPECT_FALSE(cluster.data("/b").has_value());
}

struct Seen {
  std::vector<WatchEvent> events;
  std::vector<absl::Status> done;
};

class WatchTest : public ::testing::Test {
 protected:
  // A watch "from now" starts after the last revision its client has seen
  // (events the client never saw replay from history): the watcher first
  // catches up with the writer, as a real reader of the state would.
  void CatchUp() { ASSERT_TRUE(watcher_->Sync().ok()); }

  uint64_t MustWatch(const std::string& path, WatchOptions options) {
    CatchUp();
    absl::StatusOr<uint64_t> id = watcher_->Watch(
        path, options,
        [this](const WatchEvent& e) {
          absl::MutexLock lock(&mu_);
          seen_.events.push_back(e);
        },
        [this](const absl::Status& s) {
          absl::MutexLock lock(&mu_);
          seen_.done.push_back(s);
        });
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or(0);
  }
  Seen seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }
  size_t events() {
    absl::MutexLock lock(&mu_);
    return seen_.events.size();
  }

  FakeCluster cluster_;
  std::unique_ptr<Client> writer_ = Connect(OptionsFor(cluster_));
  std::unique_ptr<Client> watcher_ = Connect(OptionsFor(cluster_));
  absl::Mutex mu_;
  Seen seen_ ABSL_GUARDED_BY(mu_);
};

TEST_F(WatchTest, PersistentWatchSeesEveryChangeInOrder) {
  ASSERT_TRUE(writer_->Create("/cfg", "0").ok());
  MustWatch("/cfg", {WatchKind::kPersistent});
  std::vector<uint64_t> revisions;
  for (int i = 1; i <= 5; ++i) {
    absl::StatusOr<SetResult> s = writer_->Set("/cfg", std::to_string(i));
    ASSERT_TRUE(s.ok());
    revisions.push_back(s->stat.mzxid);
  }
  ASSERT_TRUE(Eventually([&] { return events() == 5; }));
  Seen s = seen();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(s.events[i].type, EventType::kNodeDataChanged);
    EXPECT_EQ(s.events[i].path, "/cfg");
    EXPECT_EQ(s.events[i].revision, revisions[i]);
  }
  // Watch-then-read: a read after the event asks for at least its revision.
  EXPECT_GE(watcher_->last_revision(), revisions.back());
  ASSERT_TRUE(watcher_->Get("/cfg").ok());
  v1::GetRequest g;
  g.ParseFromString(cluster_.requests("Get").back());
  EXPECT_GE(g.read().min_revision(), revisions.back());
}

TEST_F(WatchTest, ASlowCallbackHoldsTheStreamAndLosesNoEvent) {
  ASSERT_TRUE(writer_->Create("/slow", "0").ok());
  CatchUp();
  absl::Notification release;
  Recorder<uint64_t> revisions;
  absl::StatusOr<uint64_t> id = watcher_->Watch(
      "/slow", {WatchKind::kPersistent},
      [&](const WatchEvent& e) {
        release.WaitForNotification();
        revisions.Add(e.revision);
      },
      [](const absl::Status&) {});
  ASSERT_TRUE(id.ok()) << id.status();
  // More events than the callback thread queues while the first callback
  // blocks: the stream stops reading meanwhile, then resumes.
  constexpr int kSets = 3000;
  std::vector<uint64_t> written;
  for (int i = 1; i <= kSets; ++i) {
    absl::StatusOr<SetResult> s = writer_->Set("/slow", std::to_string(i));
    ASSERT_TRUE(s.ok()) << s.status();
    written.push_back(s->stat.mzxid);
  }
  release.Notify();
  ASSERT_TRUE(Eventually([&] { return revisions.size() == kSets; })) << revisions.size();
  EXPECT_EQ(revisions.Get(), written);
}

TEST_F(WatchTest, OneShotFiresOnceThenEnds) {
  ASSERT_TRUE(writer_->Create("/n", "").ok());
  MustWatch("/n", {WatchKind::kData});
  ASSERT_TRUE(writer_->Set("/n", "1").ok());
  ASSERT_TRUE(writer_->Set("/n", "2").ok());
  ASSERT_TRUE(Eventually([&] { return seen().done.size() == 1; }));
  Seen s = seen();
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].type, EventType::kNodeDataChanged);
  EXPECT_TRUE(s.done[0].ok()) << s.done[0];
}

TEST_F(WatchTest, CancelEndsTheWatch) {
  ASSERT_TRUE(writer_->Create("/n", "").ok());
  const uint64_t id = MustWatch("/n", {WatchKind::kPersistent});
  watcher_->CancelWatch(id);
  ASSERT_TRUE(writer_->Set("/n", "1").ok());
  // A later watch on the same stream still works, and the cancelled one
  // delivered nothing, not even a done callback.
  MustWatch("/n", {WatchKind::kPersistent});
  ASSERT_TRUE(writer_->Set("/n", "2").ok());
  ASSERT_TRUE(Eventually([&] { return events() == 1; }));
  EXPECT_TRUE(seen().done.empty());
}

TEST_F(WatchTest, CreationErrorsComeBackFromWatch) {
  absl::StatusOr<uint64_t> bad = watcher_->Watch("no/slash", {}, [](const WatchEvent&) {});
  EXPECT_EQ(ErrorCodeOf(bad.status()), ErrorCode::kInvalidPath) << bad.status();
  ASSERT_TRUE(writer_->Create("/c", "").ok());
  ASSERT_TRUE(writer_->Set("/c", "1").ok());
  cluster_.Compact(cluster_.revision());
  // Acknowledged, then ended once the server finds the history gone.
  WatchOptions old;
  old.start_revision = 1;
  MustWatch("/c", old);
  ASSERT_TRUE(Eventually([&] { return seen().done.size() == 1; }));
  EXPECT_EQ(ErrorCodeOf(seen().done[0]), ErrorCode::kCompacted) << seen().done[0];
  EXPECT_TRUE(seen().events.empty());
}

TEST_F(WatchTest, StartRevisionReplaysThePast) {
  absl::StatusOr<CreateResult> c = writer_->Create("/past", "0");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(writer_->Set("/past", "1").ok());
  ASSERT_TRUE(writer_->Set("/past", "2").ok());
  WatchOptions from;
  from.kind = WatchKind::kPersistent;
  from.start_revision = c->stat.czxid;
  MustWatch("/past", from);
  ASSERT_TRUE(Eventually([&] { return events() == 2; }));
  EXPECT_EQ(seen().events[0].type, EventType::kNodeDataChanged);
}

// The heart of the watch contract: with the stream broken and overflowed
// while a writer runs, a recursive watcher still sees each event once, in
// revision order.
TEST_F(WatchTest, ResumesWithoutGapOrDuplicate) {
  ASSERT_TRUE(writer_->Create("/r", "").ok());
  WatchOptions rec;
  rec.kind = WatchKind::kPersistentRecursive;
  MustWatch("/r", rec);
  std::vector<std::pair<std::string, uint64_t>> expected;
  for (int i = 0; i < 60; ++i) {
    const std::string path = "/r/k" + std::to_string(i % 4);
    if (i < 4) {
      absl::StatusOr<CreateResult> c = writer_->Create(path, "0");
      ASSERT_TRUE(c.ok());
      expected.emplace_back(path, c->stat.czxid);
    } else if (i % 10 == 5) {
      // Several events with one revision.
      absl::StatusOr<MultiResult> m =
          writer_->Multi({Op::Set("/r/k0", "m"), Op::Set("/r/k1", "m"), Op::Set("/r/k2", "m")});
      ASSERT_TRUE(m.ok()) << m.status();
      for (const char* p : {"/r/k0", "/r/k1", "/r/k2"})
        expected.emplace_back(p, m->results[0].stat.mzxid);
    } else {
      absl::StatusOr<SetResult> s = writer_->Set(path, std::to_string(i));
      ASSERT_TRUE(s.ok());
      expected.emplace_back(path, s->stat.mzxid);
    }
    if (i == 20) cluster_.BreakStreams(1);
    if (i == 35) cluster_.OverflowWatches(2);
    if (i == 45) cluster_.Stop(2);
  }
  const bool all = Eventually([&] { return events() >= expected.size(); });
  if (!all) {
    std::string missing;
    std::set<std::pair<std::string, uint64_t>> got;
    for (const WatchEvent& e : seen().events) got.emplace(e.path, e.revision);
    for (const auto& [path, rev] : expected) {
      if (!got.contains({path, rev})) missing += " " + path + "@" + std::to_string(rev);
    }
    FAIL() << events() << " of " << expected.size() << " events; missing:" << missing;
  }
  // Nothing more trickles in.
  ASSERT_TRUE(writer_->Set("/r/k3", "last").ok());
  ASSERT_TRUE(Eventually([&] { return events() == expected.size() + 1; }));
  Seen s = seen();
  s.events.pop_back();
  std::vector<std::pair<std::string, uint64_t>> got;
  for (const WatchEvent& e : s.events) got.emplace_back(e.path, e.revision);
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(s.done.empty());
}

}  // namespace
}  // namespace synod
