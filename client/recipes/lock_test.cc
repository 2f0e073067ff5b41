// Locks against FakeCluster, with several clients (each its own session)
// in threads: mutual exclusion checked through fencing tokens on a shared
// counter written with conditional sets.
#include "client/recipes/lock.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

// The counter node holds "count:last_token". A holder increments the count
// with a set conditioned on the version it read (fails if anyone wrote in
// between) and checks that its token is above every earlier holder's.
void CriticalSection(Client& c, uint64_t token) {
  absl::StatusOr<GetResult> got = c.Get("/counter");
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<std::string> parts = absl::StrSplit(got->data, ':');
  ASSERT_EQ(parts.size(), 2u);
  uint64_t count = 0, last = 0;
  ASSERT_TRUE(absl::SimpleAtoi(parts[0], &count) && absl::SimpleAtoi(parts[1], &last));
  EXPECT_GT(token, last) << "fencing token went backwards";
  absl::StatusOr<SetResult> set =
      c.Set("/counter", absl::StrCat(count + 1, ":", token), got->stat.version);
  EXPECT_TRUE(set.ok()) << "two holders at once: " << set.status();
}

TEST(Lock, MutualExclusionWithGrowingFencingTokens) {
  FakeCluster cluster;
  constexpr int kClients = 4;
  constexpr int kRounds = 5;
  {
    auto setup = ConnectOrDie(FakeClientOptions(cluster));
    ASSERT_TRUE(setup->Create("/counter", "0:0").ok());
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&] {
      auto c = ConnectOrDie(FakeClientOptions(cluster));
      Lock lock(c.get(), "/locks/counter");
      for (int r = 0; r < kRounds; ++r) {
        absl::StatusOr<uint64_t> token = lock.Acquire(absl::Now() + absl::Seconds(20));
        ASSERT_TRUE(token.ok()) << token.status();
        EXPECT_TRUE(lock.held());
        EXPECT_EQ(lock.token(), *token);
        CriticalSection(*c, *token);
        ASSERT_TRUE(lock.Release().ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(cluster.data("/counter")->substr(0, 3), absl::StrCat(kClients * kRounds, ":"));
}

TEST(Lock, TryAcquireAndTimeoutLeaveNothingBehind) {
  FakeCluster cluster;
  auto a = ConnectOrDie(FakeClientOptions(cluster));
  auto b = ConnectOrDie(FakeClientOptions(cluster));
  Lock la(a.get(), "/l");
  Lock lb(b.get(), "/l");
  absl::StatusOr<uint64_t> ta = la.Acquire();
  ASSERT_TRUE(ta.ok()) << ta.status();
  EXPECT_EQ(lb.TryAcquire().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorCodeOf(lb.Acquire(absl::Now() + absl::Milliseconds(100)).status()),
            ErrorCode::kDeadlineExceeded);
  absl::StatusOr<ChildrenResult> line = a->GetChildren("/l");
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(line->children.size(), 1u) << "a waiter left its ticket behind";
  ASSERT_TRUE(la.Release().ok());
  absl::StatusOr<uint64_t> tb = lb.TryAcquire();
  ASSERT_TRUE(tb.ok()) << tb.status();
  EXPECT_GT(*tb, *ta);
}

TEST(Lock, HolderSessionLossHandsTheLockOn) {
  FakeCluster cluster;
  auto a = ConnectOrDie(FakeClientOptions(cluster));
  auto b = ConnectOrDie(FakeClientOptions(cluster));
  Lock la(a.get(), "/l");
  Lock lb(b.get(), "/l");
  std::atomic<bool> lost{false};
  la.set_on_lost([&] { lost = true; });
  absl::StatusOr<uint64_t> ta = la.Acquire();
  ASSERT_TRUE(ta.ok());
  absl::StatusOr<uint64_t> tb;
  std::thread waiter([&] { tb = lb.Acquire(absl::Now() + absl::Seconds(10)); });
  // The holder's process "dies": its session expires on the server.
  cluster.ExpireSession(a->session_id());
  waiter.join();
  ASSERT_TRUE(tb.ok()) << tb.status();
  EXPECT_GT(*tb, *ta);
  EXPECT_TRUE(testing::WaitUntil([&] { return lost.load(); }, absl::Seconds(5)));
  EXPECT_FALSE(la.held());
}

TEST(Lock, CancelledWaitGivesUpItsPlace) {
  FakeCluster cluster;
  auto a = ConnectOrDie(FakeClientOptions(cluster));
  auto b = ConnectOrDie(FakeClientOptions(cluster));
  Lock la(a.get(), "/l");
  Lock lb(b.get(), "/l");
  ASSERT_TRUE(la.Acquire().ok());
  absl::Notification stop;
  absl::StatusOr<uint64_t> tb;
  std::thread waiter([&] { tb = lb.Acquire(absl::InfiniteFuture(), &stop); });
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return a->GetChildren("/l").value_or(ChildrenResult{}).children.size() == 2; },
      absl::Seconds(5)));
  stop.Notify();
  waiter.join();
  EXPECT_EQ(tb.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(a->GetChildren("/l")->children.size(), 1u);
}

TEST(ReadWriteLock, ReadersShareWritersExclude) {
  FakeCluster cluster;
  auto r1c = ConnectOrDie(FakeClientOptions(cluster));
  auto r2c = ConnectOrDie(FakeClientOptions(cluster));
  auto wc = ConnectOrDie(FakeClientOptions(cluster));
  auto r3c = ConnectOrDie(FakeClientOptions(cluster));
  ReadWriteLock r1(r1c.get(), "/rw"), r2(r2c.get(), "/rw"), w(wc.get(), "/rw"),
      r3(r3c.get(), "/rw");
  ASSERT_TRUE(r1.read_lock().Acquire().ok());
  ASSERT_TRUE(r2.read_lock().TryAcquire().ok()) << "readers share";
  EXPECT_EQ(w.write_lock().TryAcquire().status().code(), absl::StatusCode::kFailedPrecondition);

  absl::StatusOr<uint64_t> wt;
  std::thread writer([&] { wt = w.write_lock().Acquire(absl::Now() + absl::Seconds(10)); });
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return r1c->GetChildren("/rw").value_or(ChildrenResult{}).children.size() == 3; },
      absl::Seconds(5)));
  // A reader arriving after a queued writer waits for it (no writer
  // starvation).
  EXPECT_EQ(r3.read_lock().TryAcquire().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(r1.read_lock().Release().ok());
  ASSERT_TRUE(r2.read_lock().Release().ok());
  writer.join();
  ASSERT_TRUE(wt.ok()) << wt.status();
  ASSERT_TRUE(w.write_lock().Release().ok());
  EXPECT_TRUE(r3.read_lock().TryAcquire().ok());
}

}  // namespace
}  // namespace synod::recipes
