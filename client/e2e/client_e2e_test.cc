// synod::Client, the recipes and synodctl against real `synod` replicas
// (tests/e2e TestCluster: free ports, temp dirs, processes stopped by PID).
//
// - tree calls and typed errors; read-your-writes on a follower;
// - failover of the client's replica (leader or follower) under a steady
//   exactly-once writer: no error surfaces, every write applies once, the
//   session survives (ephemeral kept, SUSPENDED -> CONNECTED, never
//   EXPIRED), the client's recursive watch sees every event once, in order;
// - an ephemeral node of a kill -9'd synodctl vanishes within its session
//   timeout and a child watch fires;
// - a lock held by a kill -9'd synodctl passes to the next holder with a
//   higher fencing token; an election moves on the same way;
// - many writes of one client at once all apply.
// Recipes with several client processes: recipes_e2e_test.cc; synodctl
// end to end: synodctl_e2e_test.cc.
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "client/recipes/leader_election.h"
#include "client/recipes/lock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "synod/client.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod {
namespace {

using synod::testing::WaitUntil;

// Short session timeouts keep the kill -9 tests short.
e2e::TestCluster::Options ClusterOptions() {
  e2e::TestCluster::Options o;
  o.extra_flags = {"--min_session_timeout_ms=1000"};
  return o;
}

std::string Logs(e2e::TestCluster& c) {
  std::string out;
  for (int id = 1; id <= c.size(); ++id) out += c.LogTail(id, 2000) + "\n";
  return out;
}

std::vector<std::string> Endpoints(e2e::TestCluster& c) {
  std::vector<std::string> out;
  for (int id = 1; id <= c.size(); ++id) out.push_back(c.client_addr(id));
  return out;
}

std::unique_ptr<Client> Connect(std::vector<std::string> endpoints,
                                absl::Duration session_timeout = absl::Seconds(2),
                                bool first_endpoint_first = false) {
  Client::Options o;
  o.endpoints = std::move(endpoints);
  o.randomize_endpoints = !first_endpoint_first;
  o.request_timeout = absl::Seconds(20);
  o.attempt_timeout = absl::Seconds(2);
  o.session_timeout = session_timeout;
  absl::StatusOr<std::unique_ptr<Client>> c = Client::Connect(std::move(o));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(*c) : nullptr;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A synodctl child process; its stdout and stderr go to `log`.
absl::StatusOr<testing::Subprocess> Synodctl(e2e::TestCluster& c, const std::string& log,
                                             std::vector<std::string> args) {
  testing::Subprocess::Options o;
  o.binary = SYNODCTL_BIN;
  o.args = {"--endpoints=" + absl::StrJoin(Endpoints(c), ","), "--session_timeout=1s"};
  o.args.insert(o.args.end(), args.begin(), args.end());
  o.log_path = log;
  o.stop_grace = absl::Seconds(5);
  return testing::Subprocess::Start(o);
}

class ClientE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartAll().ok()) << Logs(cluster_);
    leader_ = cluster_.WaitForLeader(absl::Seconds(20));
    ASSERT_NE(leader_, 0) << Logs(cluster_);
  }

  e2e::TestCluster cluster_{ClusterOptions()};
  testing::TempDir dir_{"synod-client-e2e-"};
  int leader_ = 0;
};

TEST_F(ClientE2ETest, TreeCallsTypedErrorsAndReadYourWrites) {
  auto client = Connect(Endpoints(cluster_));
  ASSERT_NE(client, nullptr);
  absl::StatusOr<CreateResult> c = client->Create("/app", "v0");
  ASSERT_TRUE(c.ok()) << c.status() << Logs(cluster_);
  EXPECT_EQ(ErrorCodeOf(client->Create("/app", "").status()), ErrorCode::kNodeExists);
  EXPECT_EQ(ErrorCodeOf(client->Get("/nope").status()), ErrorCode::kNoNode);
  EXPECT_EQ(ErrorCodeOf(client->Set("/app", "x", 7).status()), ErrorCode::kBadVersion);
  EXPECT_EQ(ErrorCodeOf(client->Get("bad").status()), ErrorCode::kInvalidPath);
  absl::StatusOr<SetResult> s = client->Set("/app", "v1", 0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->stat.version, 1);
  ASSERT_TRUE(client->Create("/app/a", "").ok());
  ASSERT_TRUE(client->Create("/app/b", "").ok());
  absl::StatusOr<ChildrenResult> kids = client->GetChildren("/app");
  ASSERT_TRUE(kids.ok()) << kids.status();
  EXPECT_THAT(kids->children, ::testing::ElementsAre("a", "b"));
  absl::StatusOr<MultiResult> m = client->Multi({Op::Create("/app/c", ""), Op::Check("/app", 0)});
  EXPECT_EQ(ErrorCodeOf(m.status()), ErrorCode::kBadVersion) << m.status();
  EXPECT_EQ(ErrorCodeOf(client->Get("/app/c").status()), ErrorCode::kNoNode);
  absl::StatusOr<HistoryResult> h = client->History("/app");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_GE(h->versions.size(), 2u);
  EXPECT_EQ(h->versions[0].data, "v1");

  // Read-your-writes on a follower: a client that only knows that follower
  // reads serializably, with the writer's revision as its floor.
  const int follower = leader_ % cluster_.size() + 1;
  Client::Options fo;
  fo.endpoints = {cluster_.client_addr(follower)};
  fo.discover_members = false;
  absl::StatusOr<std::unique_ptr<Client>> reader = Client::Connect(fo);
  ASSERT_TRUE(reader.ok());
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<SetResult> w = client->Set("/app", absl::StrCat("n", i));
    ASSERT_TRUE(w.ok()) << w.status();
    GetOptions g;
    g.read.consistency = Consistency::kSerializable;
    g.read.min_revision = client->last_revision();
    absl::StatusOr<GetResult> r = (*reader)->Get("/app", g);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->data, absl::StrCat("n", i));
  }

  // Discovery: from one endpoint, the client learns all three.
  auto one = Connect({cluster_.client_addr(follower)});
  ASSERT_TRUE(one->Exists("/").ok());
  EXPECT_TRUE(WaitUntil([&] { return one->endpoints().size() == 3u; }, absl::Seconds(10)));
}

// The issue's failover test: kill -9 the replica a client is connected to
// (its session and watch streams run there) while that client writes. The
// parameter says which replica: the leader (writes fail over too) or a
// follower (only the streams move). Checks: no write fails within its
// deadline and each applies once; the session survives (its ephemeral is
// still there, the listener saw SUSPENDED then CONNECTED and never EXPIRED);
// the client's own persistent-recursive watch sees every acknowledged
// write's event exactly once, in revision order.
class ClientFailoverTest : public ClientE2ETest, public ::testing::WithParamInterface<bool> {};

TEST_P(ClientFailoverTest, ReplicaKilledUnderLoadLosesNothing) {
  const bool kill_leader = GetParam();
  const int doomed = kill_leader ? leader_ : leader_ % cluster_.size() + 1;
  std::vector<std::string> doomed_first = {cluster_.client_addr(doomed)};
  for (int id = 1; id <= cluster_.size(); ++id) {
    if (id != doomed) doomed_first.push_back(cluster_.client_addr(id));
  }
  auto client = Connect(doomed_first, absl::Seconds(2), true);
  ASSERT_NE(client, nullptr);
  absl::Mutex mu;
  std::vector<SessionState> states;
  client->AddSessionListener([&](SessionState s, uint64_t) {
    absl::MutexLock lock(&mu);
    states.push_back(s);
  });
  ASSERT_TRUE(client->Create("/load", "").ok()) << Logs(cluster_);
  absl::StatusOr<CreateResult> eph = client->Create("/owner", "", {CreateMode::kEphemeral});
  ASSERT_TRUE(eph.ok()) << eph.status();
  const uint64_t session = client->session_id();
  ASSERT_NE(session, 0u);
  EXPECT_EQ(eph->stat.ephemeral_owner, session);

  std::vector<std::pair<std::string, uint64_t>> seen;
  WatchOptions rec;
  rec.kind = WatchKind::kPersistentRecursive;
  // Node events of the children only (whether the server also reports the
  // parent's child-list changes to a recursive watch is not the point here).
  absl::StatusOr<uint64_t> watch = client->Watch("/load", rec, [&](const WatchEvent& e) {
    if (e.path == "/load") return;
    absl::MutexLock lock(&mu);
    seen.emplace_back(e.path, e.revision);
  });
  ASSERT_TRUE(watch.ok()) << watch.status();

  constexpr int kWrites = 150;
  constexpr int kKillAfter = 50;
  std::atomic<int> acked{0};
  std::vector<std::pair<std::string, uint64_t>> expected;  // writer thread's
  std::vector<std::string> errors;                         // writer thread's
  absl::Duration slowest;
  std::thread writer([&] {
    for (int i = 0; i < kWrites; ++i) {
      const std::string path = absl::StrCat("/load/k", i);
      const absl::Time start = absl::Now();
      absl::StatusOr<CreateResult> c = client->Create(path, absl::StrCat(i));
      slowest = std::max(slowest, absl::Now() - start);
      // Exactly-once: a retried create returns its first result, never
      // NODE_EXISTS, and no error outlives the failover.
      if (!c.ok()) {
        errors.push_back(absl::StrCat(i, ": ", c.status().ToString()));
        continue;
      }
      expected.emplace_back(path, c->stat.czxid);
      ++acked;
    }
  });
  // The kill lands while writes are in flight.
  EXPECT_TRUE(WaitUntil([&] { return acked.load() >= kKillAfter; }, absl::Seconds(30)));
  cluster_.Kill(doomed);
  writer.join();
  std::cout << (kill_leader ? "leader" : "follower") << " killed: slowest write " << slowest
            << "\n";
  EXPECT_THAT(errors, ::testing::IsEmpty()) << Logs(cluster_);
  EXPECT_EQ(client->session_id(), session) << "the session did not survive";

  // The session survived: its ephemeral is still there (seen by another
  // client), and it went SUSPENDED -> CONNECTED, never EXPIRED.
  std::vector<std::string> others;
  for (int id = 1; id <= cluster_.size(); ++id) {
    if (id != doomed) others.push_back(cluster_.client_addr(id));
  }
  auto observer = Connect(others);
  absl::StatusOr<ExistsResult> owner = observer->Exists("/owner");
  ASSERT_TRUE(owner.ok()) << owner.status();
  EXPECT_TRUE(owner->exists);
  EXPECT_EQ(owner->stat.ephemeral_owner, session);
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::MutexLock lock(&mu);
        return !states.empty() && states.back() == SessionState::kConnected;
      },
      absl::Seconds(10)));
  {
    absl::MutexLock lock(&mu);
    std::vector<std::string> names;
    for (SessionState s : states) names.emplace_back(SessionStateName(s));
    std::cout << "session states: " << absl::StrJoin(names, " -> ") << "\n";
    const auto suspended = std::find(states.begin(), states.end(), SessionState::kSuspended);
    EXPECT_NE(suspended, states.end()) << absl::StrJoin(names, ",");
    EXPECT_NE(std::find(suspended, states.end(), SessionState::kConnected), states.end())
        << absl::StrJoin(names, ",");
    EXPECT_EQ(std::count(states.begin(), states.end(), SessionState::kExpired), 0)
        << absl::StrJoin(names, ",");
  }

  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::MutexLock lock(&mu);
        return seen.size() >= expected.size();
      },
      absl::Seconds(20)));
  {
    absl::MutexLock lock(&mu);
    const std::vector<std::pair<std::string, uint64_t>>& created = seen;
    if (created != expected) {
      std::string diff;
      std::multiset<std::pair<std::string, uint64_t>> want(expected.begin(), expected.end());
      std::multiset<std::pair<std::string, uint64_t>> got(created.begin(), created.end());
      for (const auto& e : want) {
        if (got.count(e) != 1)
          absl::StrAppend(&diff, " ", e.first, "@", e.second, "x", got.count(e));
      }
      for (const auto& e : got) {
        if (!want.contains(e)) absl::StrAppend(&diff, " extra:", e.first, "@", e.second);
      }
      ADD_FAILURE() << "events missed, repeated or out of order (" << created.size() << " vs "
                    << expected.size() << "):" << diff;
    }
    for (size_t i = 1; i < created.size(); ++i) {
      EXPECT_LT(created[i - 1].second, created[i].second) << "event " << i << " out of order";
    }
  }
  absl::StatusOr<ChildrenResult> kids = client->GetChildren("/load");
  ASSERT_TRUE(kids.ok()) << kids.status();
  EXPECT_EQ(kids->children.size(), static_cast<size_t>(kWrites));

  // The killed replica comes back and catches up.
  ASSERT_TRUE(cluster_.Start(doomed).ok()) << Logs(cluster_);
  EXPECT_TRUE(cluster_.WaitForApplied(client->last_revision(), absl::Seconds(20)));
}

INSTANTIATE_TEST_SUITE_P(Replica, ClientFailoverTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("Leader") : std::string("Follower");
                         });

TEST_F(ClientE2ETest, EphemeralOfAKilledProcessVanishes) {
  auto client = Connect(Endpoints(cluster_));
  ASSERT_TRUE(client->Create("/members", "").ok()) << Logs(cluster_);
  absl::StatusOr<testing::Subprocess> holder =
      Synodctl(cluster_, dir_.Sub("holder.log"), {"create", "--ephemeral", "/members/w1", "up"});
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_TRUE(
      WaitUntil([&] { return client->Exists("/members/w1").value_or(ExistsResult{}).exists; },
                absl::Seconds(20)))
      << ReadFile(dir_.Sub("holder.log"));
  std::atomic<int> fired{0};
  absl::StatusOr<ChildrenResult> kids = client->GetChildren("/members");
  ASSERT_TRUE(kids.ok());
  WatchOptions w;
  w.kind = WatchKind::kChildren;
  w.start_revision = kids->revision;
  ASSERT_TRUE(client->Watch("/members", w, [&](const WatchEvent&) { ++fired; }).ok());

  holder->Kill();
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(
      WaitUntil([&] { return !client->Exists("/members/w1").value_or(ExistsResult{}).exists; },
                absl::Seconds(10)));
  // Session timeout 1 s (+ the server's expiry check) + 2 s.
  EXPECT_LT(absl::Now() - killed, absl::Seconds(3) + absl::Seconds(2));
  EXPECT_TRUE(WaitUntil([&] { return fired.load() == 1; }, absl::Seconds(5)));
}

TEST_F(ClientE2ETest, LockPassesFromAKilledHolderWithAHigherToken) {
  const std::string log = dir_.Sub("lock.log");
  absl::StatusOr<testing::Subprocess> holder = Synodctl(cluster_, log, {"lock", "job"});
  ASSERT_TRUE(holder.ok());
  uint64_t held_token = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        return absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(log)), &held_token) &&
               held_token > 0;
      },
      absl::Seconds(20)))
      << ReadFile(log) << Logs(cluster_);

  auto client = Connect(Endpoints(cluster_));
  recipes::Lock lock(client.get(), "/synod/locks/job");
  EXPECT_EQ(lock.TryAcquire().status().code(), absl::StatusCode::kFailedPrecondition);
  holder->Kill();
  const absl::Time killed = absl::Now();
  absl::StatusOr<uint64_t> token = lock.Acquire(absl::Now() + absl::Seconds(15));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_GT(*token, held_token);
  EXPECT_LT(absl::Now() - killed, absl::Seconds(5));
  ASSERT_TRUE(lock.Release().ok());
}

TEST_F(ClientE2ETest, ElectionMovesOnWhenTheLeaderDies) {
  const std::string log = dir_.Sub("elect.log");
  absl::StatusOr<testing::Subprocess> alpha = Synodctl(cluster_, log, {"elect", "svc", "alpha"});
  ASSERT_TRUE(alpha.ok());
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(log) == "alpha\n"; }, absl::Seconds(20)))
      << ReadFile(log);
  auto client = Connect(Endpoints(cluster_));
  recipes::LeaderElection beta(client.get(), "/synod/elections/svc", "beta");
  std::atomic<bool> done{false};
  absl::Status campaign;
  std::thread t([&] {
    campaign = beta.Campaign(absl::Now() + absl::Seconds(20));
    done = true;
  });
  ASSERT_TRUE(WaitUntil(
      [&] {
        return client->GetChildren("/synod/elections/svc")
                   .value_or(ChildrenResult{})
                   .children.size() == 2;
      },
      absl::Seconds(10)));
  EXPECT_FALSE(done.load()) << "two leaders at once";
  alpha->Kill();
  t.join();
  EXPECT_TRUE(campaign.ok()) << campaign;
  absl::StatusOr<recipes::LeaderInfo> now =
      recipes::LeaderElection::CurrentLeader(*client, "/synod/elections/svc");
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->value, "beta");
}

// Many writes of one client at once, from threads and the async API: all
// apply once. (The session table keeps only the last sequence's result;
// the client orders its session's writes so none is refused.)
// Tree calls ride one pipeline stream per replica; a replica that stops
// answering without closing its connection must cost a call one attempt
// timeout, not its whole deadline, and the retry goes elsewhere.
TEST_F(ClientE2ETest, AFrozenReplicaCostsAPipelinedReadOneAttempt) {
  const int frozen = leader_ == 1 ? 2 : 1;
  std::vector<std::string> endpoints = {cluster_.client_addr(frozen)};
  for (int id = 1; id <= cluster_.size(); ++id) {
    if (id != frozen) endpoints.push_back(cluster_.client_addr(id));
  }
  auto client = Connect(endpoints, absl::Seconds(2), /*first_endpoint_first=*/true);
  ASSERT_TRUE(client->Create("/frozen", "v").ok()) << Logs(cluster_);
  // The stream to `frozen` is open: reads go to the first endpoint.
  ASSERT_TRUE(client->Get("/frozen").ok());
  cluster_.Signal(frozen, SIGSTOP);
  const absl::Time start = absl::Now();
  absl::StatusOr<GetResult> r = client->Get("/frozen");
  const absl::Duration took = absl::Now() - start;
  cluster_.Signal(frozen, SIGCONT);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data, "v");
  // One attempt timeout (2 s) and a backoff, far from the 20 s deadline.
  EXPECT_GE(took, absl::Milliseconds(1900));
  EXPECT_LT(took, absl::Seconds(10));
}

// Many exactly-once writes in flight at once (Options::max_writes_in_flight)
// while the leader is killed: each applies once, retries included.
TEST_F(ClientE2ETest, ManyWritesInFlightAcrossALeaderKillApplyOnce) {
  Client::Options o;
  o.endpoints = Endpoints(cluster_);
  o.session_timeout = absl::Seconds(2);
  o.max_writes_in_flight = 64;
  absl::StatusOr<std::unique_ptr<Client>> connected = Client::Connect(o);
  ASSERT_TRUE(connected.ok()) << connected.status();
  std::unique_ptr<Client> client = *std::move(connected);
  ASSERT_TRUE(client->Create("/seq", "").ok()) << Logs(cluster_);
  constexpr int kWrites = 400;
  absl::Mutex mu;
  std::vector<absl::StatusOr<CreateResult>> results(kWrites, absl::UnknownError("not done"));
  std::atomic<int> done{0};
  for (int i = 0; i < kWrites; ++i) {
    client->CreateAsync("/seq/n-", absl::StrCat(i), {CreateMode::kPersistentSequential},
                        CallOptions::Timeout(absl::Seconds(30)),
                        [&, i](absl::StatusOr<CreateResult> r) {
                          {
                            absl::MutexLock lock(&mu);
                            results[i] = std::move(r);
                          }
                          ++done;
                        });
  }
  EXPECT_TRUE(WaitUntil([&] { return done.load() >= kWrites / 4; }, absl::Seconds(30)));
  cluster_.Kill(leader_);
  ASSERT_TRUE(WaitUntil([&] { return done.load() == kWrites; }, absl::Seconds(60)));
  absl::MutexLock lock(&mu);
  std::set<std::string> paths;
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status() << Logs(cluster_);
    EXPECT_TRUE(paths.insert(results[i]->path).second) << results[i]->path << " given twice";
  }
  absl::StatusOr<ChildrenResult> kids = client->GetChildren("/seq");
  ASSERT_TRUE(kids.ok()) << kids.status();
  EXPECT_EQ(kids->children.size(), static_cast<size_t>(kWrites));
}

TEST_F(ClientE2ETest, ConcurrentWritesOfOneClientAllApply) {
  auto client = Connect(Endpoints(cluster_));
  ASSERT_TRUE(client->Create("/many", "").ok()) << Logs(cluster_);
  constexpr int kAsync = 60;
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  for (int i = 0; i < kAsync; ++i) {
    client->CreateAsync(absl::StrCat("/many/a", i), "", {}, {},
                        [&](absl::StatusOr<CreateResult> r) {
                          EXPECT_TRUE(r.ok()) << r.status();
                          ok += r.ok();
                          ++done;
                        });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        absl::StatusOr<CreateResult> r = client->Create(absl::StrCat("/many/t", t, "-", i), "");
        EXPECT_TRUE(r.ok()) << r.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(WaitUntil([&] { return done.load() == kAsync; }, absl::Seconds(30)));
  EXPECT_EQ(ok.load(), kAsync);
  absl::StatusOr<ChildrenResult> kids = client->GetChildren("/many");
  ASSERT_TRUE(kids.ok());
  EXPECT_EQ(kids->children.size(), static_cast<size_t>(kAsync + 40));
}

}  // namespace
}  // namespace synod
