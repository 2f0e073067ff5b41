// SerialExecutor: order, timers, and WhenBelow, which lets a producer wait
// for a backed-up executor without blocking a thread.
#include "client/src/executor.h"

#include <atomic>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/testing/wait.h"

namespace synod::client {
namespace {

using ::synod::testing::WaitUntil;

TEST(SerialExecutorTest, RunsPostedTasksInOrder) {
  SerialExecutor ex;
  absl::Mutex mu;
  std::vector<int> ran;
  for (int i = 0; i < 100; ++i) {
    ex.Post([&, i] {
      absl::MutexLock lock(&mu);
      ran.push_back(i);
    });
  }
  ex.Stop();
  ASSERT_EQ(ran.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[i], i);
}

TEST(SerialExecutorTest, WhenBelowWaitsUntilTheQueueIsShorterThanItsBound) {
  SerialExecutor ex;
  absl::Notification release;
  ex.Post([&] { release.WaitForNotification(); });  // holds the thread
  ASSERT_TRUE(WaitUntil([&] { return ex.queued() == 0; }, absl::Seconds(10)));
  constexpr int kQueued = 10;
  std::atomic<int> done{0};
  for (int i = 0; i < kQueued; ++i) ex.Post([&] { done++; });
  EXPECT_EQ(ex.queued(), static_cast<size_t>(kQueued));
  // Not below 5 yet: waits (and is not counted as queued).
  std::atomic<int> done_when_resumed{-1};
  ex.WhenBelow(5, [&] { done_when_resumed = done.load(); });
  EXPECT_EQ(ex.queued(), static_cast<size_t>(kQueued));
  // Below 100 already: queued behind the others at once.
  std::atomic<bool> early{false};
  ex.WhenBelow(100, [&] { early = true; });
  EXPECT_EQ(ex.queued(), static_cast<size_t>(kQueued + 1));
  release.Notify();
  ASSERT_TRUE(WaitUntil([&] { return done_when_resumed.load() >= 0 && early; }, absl::Seconds(10)));
  // Released once fewer than 5 were queued: at least 6 of the 10 had run.
  EXPECT_GE(done_when_resumed.load(), kQueued - 4);
  // The most ever queued at once: the 10 and the task below 100.
  EXPECT_EQ(ex.max_queued(), static_cast<size_t>(kQueued + 1));
}

TEST(SerialExecutorTest, WhenBelowTasksRunWhileStopping) {
  auto ex = std::make_unique<SerialExecutor>();
  absl::Notification release;
  ex->Post([&] { release.WaitForNotification(); });
  ASSERT_TRUE(WaitUntil([&] { return ex->queued() == 0; }, absl::Seconds(10)));
  ex->Post([] {});
  bool ran = false;
  ex->WhenBelow(1, [&] { ran = true; });
  release.Notify();
  ex->Stop();
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace synod::client
