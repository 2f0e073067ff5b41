#include "client/recipes/leader_election.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/wait.h"

namespace synod::recipes {
namespace {

using client::testing::ConnectOrDie;
using client::testing::FakeClientOptions;
using client::testing::FakeCluster;

bool Eventually(const std::function<bool()>& cond) {
  return testing::WaitUntil(cond, absl::Seconds(10), absl::Milliseconds(5));
}

TEST(LeaderElection, OneLeaderAtATimeInJoinOrder) {
  FakeCluster cluster;
  constexpr int kCandidates = 3;
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::unique_ptr<LeaderElection>> candidates;
  for (int i = 0; i < kCandidates; ++i) {
    clients.push_back(ConnectOrDie(FakeClientOptions(cluster)));
    candidates.push_back(std::make_unique<LeaderElection>(clients.back().get(), "/election",
                                                          "node" + std::to_string(i)));
  }
  ASSERT_TRUE(candidates[0]->Campaign().ok());
  // The others wait in line, in threads.
  std::atomic<int> leaders_now{1};
  std::atomic<int> max_leaders{1};
  std::vector<std::thread> waiting;
  for (int i = 1; i < kCandidates; ++i) {
    waiting.emplace_back([&, i] {
      ASSERT_TRUE(candidates[i]->Campaign(absl::Now() + absl::Seconds(20)).ok());
      const int now = ++leaders_now;
      int seen = max_leaders.load();
      while (now > seen && !max_leaders.compare_exchange_weak(seen, now)) {
      }
    });
    // One at a time, so the line is in candidate order.
    ASSERT_TRUE(Eventually([&] {
      return clients[0]->GetChildren("/election").value_or(ChildrenResult{}).children.size() ==
             static_cast<size_t>(i + 1);
    }));
  }
  absl::StatusOr<LeaderInfo> leader = LeaderElection::CurrentLeader(*clients[0], "/election");
  ASSERT_TRUE(leader.ok());
  EXPECT_EQ(leader->value, "node0");
  EXPECT_FALSE(candidates[1]->is_leader());

  // Leaders resign one after the other; each next one takes over alone.
  for (int i = 0; i < kCandidates - 1; ++i) {
    --leaders_now;
    ASSERT_TRUE(candidates[i]->Resign().ok());
    ASSERT_TRUE(Eventually([&] { return candidates[i + 1]->is_leader(); })) << i;
    absl::StatusOr<LeaderInfo> next = LeaderElection::CurrentLeader(*clients[0], "/election");
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(next->value, "node" + std::to_string(i + 1));
    EXPECT_GT(next->czxid, leader->czxid);
    leader = next;
  }
  for (auto& t : waiting) t.join();
  EXPECT_EQ(max_leaders.load(), 1);
}

TEST(LeaderElection, SessionLossEndsLeadershipAndIsReported) {
  FakeCluster cluster;
  auto a = ConnectOrDie(FakeClientOptions(cluster));
  auto b = ConnectOrDie(FakeClientOptions(cluster));
  LeaderElection ea(a.get(), "/e", "a");
  LeaderElection eb(b.get(), "/e", "b");
  std::atomic<bool> lost{false};
  ea.set_on_lost([&] { lost = true; });
  ASSERT_TRUE(ea.Campaign().ok());
  std::thread t([&] { EXPECT_TRUE(eb.Campaign(absl::Now() + absl::Seconds(10)).ok()); });
  ASSERT_TRUE(Eventually(
      [&] { return a->GetChildren("/e").value_or(ChildrenResult{}).children.size() == 2; }));
  cluster.ExpireSession(a->session_id());
  t.join();
  EXPECT_TRUE(eb.is_leader());
  EXPECT_TRUE(Eventually([&] { return lost.load(); }));
  EXPECT_FALSE(ea.is_leader());
  // Campaigning again rejoins at the back of the line.
  std::thread again([&] { EXPECT_TRUE(ea.Campaign(absl::Now() + absl::Seconds(10)).ok()); });
  ASSERT_TRUE(Eventually(
      [&] { return a->GetChildren("/e").value_or(ChildrenResult{}).children.size() == 2; }));
  ASSERT_TRUE(eb.Resign().ok());
  again.join();
  EXPECT_TRUE(ea.is_leader());
}

TEST(LeaderObserver, ReportsEachNewLeader) {
  FakeCluster cluster;
  auto watcher = ConnectOrDie(FakeClientOptions(cluster));
  auto a = ConnectOrDie(FakeClientOptions(cluster));
  auto b = ConnectOrDie(FakeClientOptions(cluster));
  absl::Mutex mu;
  std::vector<std::string> seen;  // leader values, "-" for none
  absl::StatusOr<std::unique_ptr<LeaderObserver>> observer =
      LeaderObserver::Start(watcher.get(), "/obs", [&](const absl::StatusOr<LeaderInfo>& l) {
        absl::MutexLock lock(&mu);
        seen.push_back(l.ok() ? l->value : "-");
      });
  ASSERT_TRUE(observer.ok()) << observer.status();
  auto seen_now = [&] {
    absl::MutexLock lock(&mu);
    return seen;
  };
  LeaderElection ea(a.get(), "/obs", "a");
  LeaderElection eb(b.get(), "/obs", "b");
  ASSERT_TRUE(ea.Campaign().ok());
  std::thread t([&] { EXPECT_TRUE(eb.Campaign(absl::Now() + absl::Seconds(10)).ok()); });
  ASSERT_TRUE(Eventually([&] { return seen_now().size() == 2; }));
  // b is in line before a resigns (else nobody would lead for a moment).
  ASSERT_TRUE(Eventually(
      [&] { return a->GetChildren("/obs").value_or(ChildrenResult{}).children.size() == 2; }));
  ASSERT_TRUE(ea.Resign().ok());
  t.join();
  ASSERT_TRUE(Eventually([&] { return seen_now().size() == 3; }));
  ASSERT_TRUE(eb.Resign().ok());
  ASSERT_TRUE(Eventually([&] { return seen_now().size() == 4; }));
  EXPECT_THAT(seen_now(), ::testing::ElementsAre("-", "a", "b", "-"));
}

}  // namespace
}  // namespace synod::recipes
