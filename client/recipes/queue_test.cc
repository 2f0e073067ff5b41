#include "client/recipes/queue.h"

#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "gtest/gtest.h"

namespace synod::recipes {
namespace {

using client::testing::ConnectOrDie;
using client::testing::FakeClientOptions;
using client::testing::FakeCluster;

TEST(DistributedQueue, FifoForOneConsumer) {
  FakeCluster cluster;
  auto c = ConnectOrDie(FakeClientOptions(cluster));
  DistributedQueue q(c.get(), "/q");
  EXPECT_EQ(ErrorCodeOf(q.Poll().status()), ErrorCode::kNoNode);
  for (const char* item : {"a", "b", "c"}) ASSERT_TRUE(q.Offer(item).ok());
  EXPECT_EQ(q.Poll().value_or(""), "a");
  EXPECT_EQ(q.Take(absl::Now() + absl::Seconds(1)).value_or(""), "b");
  EXPECT_EQ(q.Poll().value_or(""), "c");
  EXPECT_EQ(ErrorCodeOf(q.Take(absl::Now() + absl::Milliseconds(50)).status()),
            ErrorCode::kDeadlineExceeded);
}

TEST(DistributedQueue, EachItemOnceUnderConcurrentConsumers) {
  FakeCluster cluster;
  constexpr int kItems = 60;
  constexpr int kConsumers = 3;
  absl::Mutex mu;
  std::multiset<std::string> taken;
  std::vector<std::thread> consumers;
  for (int i = 0; i < kConsumers; ++i) {
    consumers.emplace_back([&] {
      auto c = ConnectOrDie(FakeClientOptions(cluster));
      DistributedQueue q(c.get(), "/q");
      for (;;) {
        absl::StatusOr<std::string> item = q.Take(absl::Now() + absl::Seconds(10));
        ASSERT_TRUE(item.ok()) << item.status();
        if (*item == "stop") return;
        absl::MutexLock lock(&mu);
        taken.insert(*item);
      }
    });
  }
  auto producer = ConnectOrDie(FakeClientOptions(cluster));
  DistributedQueue q(producer.get(), "/q");
  for (int i = 0; i < kItems; ++i) ASSERT_TRUE(q.Offer("item" + std::to_string(i)).ok());
  for (int i = 0; i < kConsumers; ++i) ASSERT_TRUE(q.Offer("stop").ok());
  for (auto& t : consumers) t.join();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(taken.size(), static_cast<size_t>(kItems));
  EXPECT_EQ(std::set<std::string>(taken.begin(), taken.end()).size(), static_cast<size_t>(kItems))
      << "an item was delivered twice";
}

}  // namespace
}  // namespace synod::recipes
