#include "server/session/session_tracker.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace synod::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

absl::Time At(double seconds) { return kT0 + absl::Seconds(seconds); }

TEST(SessionTrackerTest, ExpiresOnlyWhenSilentForItsTimeout) {
  SessionTracker t;
  t.OnBecomeLeader({}, kT0);
  t.Add(1, absl::Seconds(4), kT0);
  t.Add(2, absl::Seconds(10), kT0);
  EXPECT_THAT(t.Expired(At(3.9)), IsEmpty());
  EXPECT_TRUE(t.Touch(1, At(3)));  // deadline 7
  EXPECT_THAT(t.Expired(At(6.9)), IsEmpty());
  EXPECT_THAT(t.Expired(At(7)), ElementsAre(1));
  EXPECT_THAT(t.Expired(At(8)), IsEmpty());       // reported once
  EXPECT_FALSE(t.Touch(1, At(8)));                // being expired: not revived
  EXPECT_THAT(t.Expired(At(9)), ElementsAre(1));  // still here 2 s later: again
  t.Remove(1);                                    // the expiry applied
  EXPECT_THAT(t.Expired(At(10)), ElementsAre(2));
  t.Remove(2);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.NextDeadline(), std::nullopt);
}

TEST(SessionTrackerTest, OnlyTheLeaderExpires) {
  SessionTracker t;
  t.Add(1, absl::Seconds(4), kT0);  // applied on a follower
  EXPECT_THAT(t.Expired(At(100)), IsEmpty());
  t.OnBecomeLeader({}, At(100));
  EXPECT_THAT(t.Expired(At(103.9)), IsEmpty());
  EXPECT_THAT(t.Expired(At(104)), ElementsAre(1));
  t.OnLoseLeadership();
  EXPECT_FALSE(t.is_leader());
  EXPECT_THAT(t.Expired(At(200)), IsEmpty());
}

TEST(SessionTrackerTest, LeaderChangeRestartsEveryClock) {
  // The old leader last heard from session 1 at t0; a new leader is elected
  // at 3.9 s: under the old clock it would expire at 4 s.
  SessionTracker t;
  t.Add(1, absl::Seconds(4), kT0);
  t.OnBecomeLeader({{1, absl::Seconds(4)}}, At(3.9));
  EXPECT_THAT(t.Expired(At(5)), IsEmpty());
  EXPECT_TRUE(t.Touch(1, At(6)));
  EXPECT_THAT(t.Expired(At(9.9)), IsEmpty());
  EXPECT_THAT(t.Expired(At(10)), ElementsAre(1));
}

TEST(SessionTrackerTest, BecomingLeaderMergesTheTableAndClearsExpiringMarks) {
  SessionTracker t;
  t.OnBecomeLeader({}, kT0);
  t.Add(1, absl::Seconds(4), kT0);
  EXPECT_THAT(t.Expired(At(4)), ElementsAre(1));
  t.OnLoseLeadership();  // the expiry proposal was lost with the leadership
  // Re-elected: session 1 (still in the table) and 2 (only in the table).
  t.OnBecomeLeader({{2, absl::Seconds(6)}}, At(5));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(t.Touch(1, At(5)));  // a live client again
  EXPECT_THAT(t.Expired(At(8.9)), IsEmpty());
  EXPECT_THAT(t.Expired(At(11)), ElementsAre(1, 2));
}

TEST(SessionTrackerTest, TouchAllReportsUnknownAndExpiringSessions) {
  SessionTracker t;
  t.OnBecomeLeader({{1, absl::Seconds(4)}, {2, absl::Seconds(4)}}, kT0);
  t.Touch(2, At(2));
  EXPECT_THAT(t.Expired(At(4)), ElementsAre(1));
  EXPECT_THAT(t.TouchAll({3, 2, 1}, At(4.5)), ElementsAre(3, 1));
}

TEST(SessionTrackerTest, LateHeartbeatNeverShortensADeadline) {
  SessionTracker t;
  t.OnBecomeLeader({}, kT0);
  t.Add(1, absl::Seconds(4), kT0);
  EXPECT_TRUE(t.Touch(1, At(3)));  // deadline 7
  EXPECT_TRUE(t.Touch(1, At(1)));  // a stale batch: deadline stays 7
  EXPECT_EQ(t.NextDeadline(), At(7));
}

TEST(SessionTrackerTest, NextDeadlineAndResetAndReAdd) {
  SessionTracker t;
  t.OnBecomeLeader({}, kT0);
  t.Add(1, absl::Seconds(10), kT0);
  t.Add(2, absl::Seconds(5), kT0);
  EXPECT_EQ(t.NextDeadline(), At(5));
  t.Add(2, absl::Seconds(20), At(1));  // re-add refreshes and changes the timeout
  EXPECT_EQ(t.NextDeadline(), At(10));
  t.Reset({{7, absl::Seconds(4)}}, At(2));  // snapshot installed
  EXPECT_EQ(t.size(), 1u);
  EXPECT_FALSE(t.Touch(1, At(2)));
  EXPECT_EQ(t.NextDeadline(), At(6));
  EXPECT_THAT(t.Expired(At(6)), ElementsAre(7));
  EXPECT_EQ(t.NextDeadline(), At(8));  // the retry
}

TEST(SessionTrackerTest, ManySessionsExpireInIdOrderWithoutAScan) {
  SessionTracker t;
  t.OnBecomeLeader({}, kT0);
  for (uint64_t id = 100000; id > 0; --id) t.Add(id, absl::Seconds(id % 2 ? 4 : 40), kT0);
  std::vector<uint64_t> expired = t.Expired(At(4));
  ASSERT_EQ(expired.size(), 50000u);
  EXPECT_TRUE(std::is_sorted(expired.begin(), expired.end()));
  EXPECT_EQ(expired.front(), 1u);
  EXPECT_THAT(t.Expired(At(5)), IsEmpty());
}

// ------------------------------------------------------- HeartbeatBatcher --

TEST(HeartbeatBatcherTest, BatchesAtMostOncePerInterval) {
  HeartbeatBatcher b(absl::Milliseconds(500));
  EXPECT_THAT(b.TakeIfDue(kT0), IsEmpty());  // nothing pending
  EXPECT_EQ(b.NextDue(), std::nullopt);
  b.Add(3);
  b.Add(1);
  b.Add(3);
  EXPECT_THAT(b.TakeIfDue(kT0), ElementsAre(1, 3));  // the first goes at once
  b.Add(2);
  EXPECT_EQ(b.NextDue(), kT0 + absl::Milliseconds(500));
  EXPECT_THAT(b.TakeIfDue(kT0 + absl::Milliseconds(499)), IsEmpty());
  b.Add(1);
  EXPECT_THAT(b.TakeIfDue(kT0 + absl::Milliseconds(500)), ElementsAre(1, 2));
  // A quiet spell does not delay the next heartbeat.
  b.Add(9);
  EXPECT_THAT(b.TakeIfDue(kT0 + absl::Seconds(60)), ElementsAre(9));
}

TEST(HeartbeatBatcherTest, RequeueAfterAFailedSendMergesWithNewOnes) {
  HeartbeatBatcher b(absl::Milliseconds(100));
  b.Add(1);
  b.Add(2);
  std::vector<uint64_t> batch = b.TakeIfDue(kT0);
  b.Add(2);
  b.Add(5);
  b.Requeue(batch);
  EXPECT_EQ(b.pending(), 3u);
  EXPECT_THAT(b.TakeIfDue(kT0 + absl::Milliseconds(100)), ElementsAre(1, 2, 5));
}

TEST(HeartbeatBatcherTest, ConcurrentAddsAreAllTaken) {
  HeartbeatBatcher b(absl::ZeroDuration());
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 4; ++t) {
    threads.emplace_back([&b, t] {
      for (uint64_t i = 0; i < 1000; ++i) b.Add(t * 1000 + i);
    });
  }
  std::vector<uint64_t> all;
  for (int round = 0; round < 3; ++round) {
    std::vector<uint64_t> batch = b.TakeIfDue(kT0 + absl::Seconds(round));
    all.insert(all.end(), batch.begin(), batch.end());
  }
  for (auto& th : threads) th.join();
  std::vector<uint64_t> rest = b.TakeIfDue(kT0 + absl::Seconds(10));
  all.insert(all.end(), rest.begin(), rest.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), 4000u);
  for (uint64_t i = 0; i < 4000; ++i) ASSERT_EQ(all[i], i);
}

}  // namespace
}  // namespace synod::server
