#include "client/recipes/barrier.h"

#include <atomic>
#include <thread>
#include <vector>

#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "gtest/gtest.h"
#include "tests/testing/wait.h"

namespace synod::recipes {
namespace {

using client::testing::ConnectOrDie;
using client::testing::FakeClientOptions;
using client::testing::FakeCluster;

TEST(Barrier, WaitersPassOnceItIsRemoved) {
  FakeCluster cluster;
  auto owner = ConnectOrDie(FakeClientOptions(cluster));
  auto waiter = ConnectOrDie(FakeClientOptions(cluster));
  Barrier b(owner.get(), "/jobs/barrier");
  ASSERT_TRUE(b.Set().ok());
  Barrier w(waiter.get(), "/jobs/barrier");
  EXPECT_EQ(ErrorCodeOf(w.Wait(absl::Now() + absl::Milliseconds(50))),
            ErrorCode::kDeadlineExceeded);
  std::atomic<bool> passed{false};
  std::thread t([&] {
    EXPECT_TRUE(w.Wait(absl::Now() + absl::Seconds(10)).ok());
    passed = true;
  });
  EXPECT_FALSE(passed.load());
  ASSERT_TRUE(b.Remove().ok());
  t.join();
  EXPECT_TRUE(passed.load());
  EXPECT_TRUE(w.Wait(absl::Now() + absl::Seconds(1)).ok()) << "no barrier: no wait";
}

TEST(DoubleBarrier, EnterAndLeaveTogether) {
  FakeCluster cluster;
  constexpr int kN = 3;
  std::atomic<int> entered{0};
  std::atomic<int> passed_enter_early{0};
  std::atomic<int> left{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kN; ++i) {
    threads.emplace_back([&, i] {
      auto c = ConnectOrDie(FakeClientOptions(cluster));
      DoubleBarrier b(c.get(), "/db", "p" + std::to_string(i), kN);
      ++entered;
      absl::Status in = b.Enter(absl::Now() + absl::Seconds(20));
      ASSERT_TRUE(in.ok()) << in;
      if (entered.load() < kN) ++passed_enter_early;
      absl::Status out = b.Leave(absl::Now() + absl::Seconds(20));
      ASSERT_TRUE(out.ok()) << out;
      ++left;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed_enter_early.load(), 0);
  EXPECT_EQ(left.load(), kN);
}

}  // namespace
}  // namespace synod::recipes
