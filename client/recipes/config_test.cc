#include "client/recipes/config.h"

#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

TEST(WatchedConfig, ReportsTheValueThenEveryChange) {
  FakeCluster cluster;
  auto reader = ConnectOrDie(FakeClientOptions(cluster));
  auto writer = ConnectOrDie(FakeClientOptions(cluster));
  ASSERT_TRUE(writer->Create("/cfg", "color=blue").ok());
  absl::Mutex mu;
  std::vector<std::string> seen;
  absl::StatusOr<std::unique_ptr<WatchedConfig>> cfg =
      WatchedConfig::Start(reader.get(), "/cfg", [&](const absl::StatusOr<GetResult>& v) {
        absl::MutexLock lock(&mu);
        seen.push_back(v.ok() ? v->data : std::string(ErrorCodeName(ErrorCodeOf(v.status()))));
      });
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto last = [&] {
    absl::MutexLock lock(&mu);
    return seen.empty() ? std::string() : seen.back();
  };
  EXPECT_EQ(last(), "color=blue");
  // The watcher reports the latest value after each change (a change made
  // while it reads may be folded into the next report: wait for each).
  ASSERT_TRUE(writer->Set("/cfg", "color=green").ok());
  ASSERT_TRUE(testing::WaitUntil([&] { return last() == "color=green"; }, absl::Seconds(5)));
  ASSERT_TRUE(writer->Delete("/cfg").ok());
  ASSERT_TRUE(testing::WaitUntil([&] { return last() == "NO_NODE"; }, absl::Seconds(5)));
  EXPECT_EQ(ErrorCodeOf((*cfg)->value().status()), ErrorCode::kNoNode);
  ASSERT_TRUE(writer->Create("/cfg", "color=red").ok());
  ASSERT_TRUE(testing::WaitUntil([&] { return last() == "color=red"; }, absl::Seconds(5)));
  EXPECT_EQ((*cfg)->value()->data, "color=red");
  absl::MutexLock lock(&mu);
  EXPECT_THAT(seen, ::testing::ElementsAre("color=blue", "color=green", "NO_NODE", "color=red"));
}

TEST(UpdateConfig, ConcurrentUpdatesAllLand) {
  FakeCluster cluster;
  constexpr int kThreads = 4;
  constexpr int kEach = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto c = ConnectOrDie(FakeClientOptions(cluster));
      for (int i = 0; i < kEach; ++i) {
        absl::StatusOr<SetResult> r = UpdateConfig(
            *c, "/count",
            [](const std::optional<std::string>& cur) -> absl::StatusOr<std::string> {
              int n = 0;
              if (cur.has_value() && !absl::SimpleAtoi(*cur, &n)) {
                return absl::InvalidArgumentError("not a number");
              }
              return absl::StrCat(n + 1);
            },
            CallOptions::Timeout(absl::Seconds(20)));
        ASSERT_TRUE(r.ok()) << r.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(cluster.data("/count"), std::to_string(kThreads * kEach));
  // An update that fails aborts without writing.
  auto c = ConnectOrDie(FakeClientOptions(cluster));
  EXPECT_EQ(UpdateConfig(*c, "/count",
                         [](const std::optional<std::string>&) -> absl::StatusOr<std::string> {
                           return absl::FailedPreconditionError("no");
                         })
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace synod::recipes
