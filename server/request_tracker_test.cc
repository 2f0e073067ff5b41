#include "server/request_tracker.h"

#include <atomic>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/wait.h"

namespace synod::server {
namespace {

using ::synod::testing::WaitUntil;

TEST(RequestTrackerTest, CompletesOnce) {
  RequestTracker tracker;
  int calls = 0;
  v1::ErrorCode seen = v1::INTERNAL;
  const uint64_t id = tracker.Register(absl::Now() + absl::Hours(1), [&](const Outcome& o) {
    ++calls;
    seen = o.code;
  });
  ASSERT_NE(id, 0u);
  EXPECT_TRUE(tracker.Pending(id));
  Outcome ok;
  EXPECT_TRUE(tracker.Complete(id, ok));
  Outcome late;
  late.code = v1::UNAVAILABLE;
  EXPECT_FALSE(tracker.Complete(id, late));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, v1::OK);
  EXPECT_FALSE(tracker.Pending(id));
}

TEST(RequestTrackerTest, DeadlineCompletesWithItsCode) {
  RequestTracker tracker;
  std::atomic<int> code{-1};
  const absl::Time start = absl::Now();
  tracker.Register(
      absl::Now() + absl::Milliseconds(50), [&](const Outcome& o) { code = o.code; },
      v1::DEADLINE_EXCEEDED);
  ASSERT_TRUE(WaitUntil([&] { return code.load() != -1; }, absl::Seconds(10)));
  EXPECT_EQ(code.load(), v1::DEADLINE_EXCEEDED);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(tracker.size(), 0u);
}

TEST(RequestTrackerTest, EarlierDeadlineRegisteredLaterStillFiresFirst) {
  // Declared before the tracker: its destructor completes the late request.
  std::atomic<int> late{0};
  std::atomic<int> early{0};
  RequestTracker tracker;
  tracker.Register(absl::Now() + absl::Hours(1), [&](const Outcome&) { late++; });
  tracker.Register(absl::Now() + absl::Milliseconds(20), [&](const Outcome&) { early++; });
  ASSERT_TRUE(WaitUntil([&] { return early.load() == 1; }, absl::Seconds(10)));
  EXPECT_EQ(late.load(), 0);
}

TEST(RequestTrackerTest, StopCompletesPendingAndRefusesNew) {
  RequestTracker tracker;
  std::vector<v1::ErrorCode> codes;
  tracker.Register(absl::Now() + absl::Hours(1),
                   [&](const Outcome& o) { codes.push_back(o.code); });
  tracker.Stop();
  ASSERT_EQ(codes.size(), 1u);
  EXPECT_EQ(codes[0], v1::UNAVAILABLE);
  EXPECT_EQ(tracker.Register(absl::Now() + absl::Hours(1),
                             [&](const Outcome& o) { codes.push_back(o.code); }),
            0u);
  EXPECT_EQ(codes.size(), 2u);
}

TEST(RequestTrackerTest, StopAnswersProposedWritesAsOutcomeUnknown) {
  RequestTracker tracker;
  std::map<uint64_t, v1::ErrorCode> codes;
  std::vector<uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    const uint64_t id = tracker.Register(absl::Now() + absl::Hours(1), [&codes, i](const Outcome& o) {
      codes[static_cast<uint64_t>(i)] = o.code;
    });
    ids.push_back(id);
  }
  tracker.MarkProposed({ids[0], ids[2], 12345});  // an unknown id changes nothing
  tracker.Stop();
  ASSERT_EQ(codes.size(), 3u);
  EXPECT_EQ(codes[0], v1::DEADLINE_EXCEEDED);
  EXPECT_EQ(codes[1], v1::UNAVAILABLE);  // never reached the log: retry
  EXPECT_EQ(codes[2], v1::DEADLINE_EXCEEDED);
}

TEST(RequestTrackerTest, ConcurrentCompletersFinishEachRequestOnce) {
  RequestTracker tracker;
  constexpr int kRequests = 2000;
  std::atomic<int> calls{0};
  std::vector<uint64_t> ids;
  for (int i = 0; i < kRequests; ++i) {
    ids.push_back(tracker.Register(absl::Now() + absl::Milliseconds(i % 50),
                                   [&](const Outcome&) { calls++; }));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (uint64_t id : ids) tracker.Complete(id, Outcome());
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(WaitUntil([&] { return tracker.size() == 0; }, absl::Seconds(10)));
  EXPECT_EQ(calls.load(), kRequests);
}

TEST(RequestTrackerTest, RefusesBeyondMaxRequestsAtOnce) {
  RequestTracker::Limits limits;
  limits.max_requests = 3;
  RequestTracker tracker(limits);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(tracker.Register(absl::Now() + absl::Hours(1), [](const Outcome&) {}));
    ASSERT_NE(ids.back(), 0u);
  }
  std::optional<Outcome> refused;
  EXPECT_EQ(tracker.Register(absl::Now() + absl::Hours(1), [&](const Outcome& o) { refused = o; }),
            0u);
  // Answered before Register returned: nothing was queued.
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->code, v1::RESOURCE_EXHAUSTED);
  EXPECT_EQ(tracker.size(), 3u);
  EXPECT_EQ(tracker.refused(), 1u);
  // A finished request makes room again.
  EXPECT_TRUE(tracker.Complete(ids[0], Outcome()));
  EXPECT_NE(tracker.Register(absl::Now() + absl::Hours(1), [](const Outcome&) {}), 0u);
}

TEST(RequestTrackerTest, RefusesBeyondMaxBytesButAlwaysAdmitsOne) {
  RequestTracker::Limits limits;
  limits.max_bytes = 1000;
  RequestTracker tracker(limits);
  RequestTracker::Admission big;
  big.bytes = 5000;
  // Alone, a request larger than the bound still goes through.
  const uint64_t first = tracker.Register(
      absl::Now() + absl::Hours(1), [](const Outcome&) {}, v1::DEADLINE_EXCEEDED, big);
  ASSERT_NE(first, 0u);
  EXPECT_EQ(tracker.bytes(), 5000u);
  RequestTracker::Admission small;
  small.bytes = 10;
  v1::ErrorCode code = v1::OK;
  EXPECT_EQ(tracker.Register(
                absl::Now() + absl::Hours(1), [&](const Outcome& o) { code = o.code; },
                v1::DEADLINE_EXCEEDED, small),
            0u);
  EXPECT_EQ(code, v1::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(tracker.Complete(first, Outcome()));
  EXPECT_EQ(tracker.bytes(), 0u);
  for (int i = 0; i < 100; ++i) {
    ASSERT_NE(
        tracker.Register(
            absl::Now() + absl::Hours(1), [](const Outcome&) {}, v1::DEADLINE_EXCEEDED, small),
        0u)
        << i;
  }
  EXPECT_EQ(tracker.Register(
                absl::Now() + absl::Hours(1), [&](const Outcome& o) { code = o.code; },
                v1::DEADLINE_EXCEEDED, small),
            0u);
  EXPECT_EQ(tracker.bytes(), 1000u);
}

TEST(RequestTrackerTest, AdmittedStageIsNeverRefused) {
  RequestTracker::Limits limits;
  limits.max_requests = 1;
  RequestTracker tracker(limits);
  ASSERT_NE(tracker.Register(absl::Now() + absl::Hours(1), [](const Outcome&) {}), 0u);
  RequestTracker::Admission later;
  later.admitted = true;
  EXPECT_NE(tracker.Register(
                absl::Now() + absl::Hours(1), [](const Outcome&) {}, v1::DEADLINE_EXCEEDED, later),
            0u);
  EXPECT_EQ(tracker.size(), 2u);
}

TEST(RequestTrackerTest, DeadlineAndStopReleaseTheirBytes) {
  RequestTracker::Limits limits;
  limits.max_bytes = 100;
  RequestTracker tracker(limits);
  RequestTracker::Admission a;
  a.bytes = 60;
  std::atomic<int> expired{0};
  tracker.Register(
      absl::Now() + absl::Milliseconds(10), [&](const Outcome&) { expired++; },
      v1::DEADLINE_EXCEEDED, a);
  ASSERT_TRUE(WaitUntil([&] { return expired.load() == 1; }, absl::Seconds(10)));
  EXPECT_EQ(tracker.bytes(), 0u);
  ASSERT_NE(tracker.Register(
                absl::Now() + absl::Hours(1), [](const Outcome&) {}, v1::DEADLINE_EXCEEDED, a),
            0u);
  tracker.Stop();
  EXPECT_EQ(tracker.bytes(), 0u);
}

}  // namespace
}  // namespace synod::server
