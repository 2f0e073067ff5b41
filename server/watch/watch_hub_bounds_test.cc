// WatchHub: bounded memory: stream overflow and the bounds on how many
// watches a stream, a session and the replica may hold.

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_hub_test_util.h"
#include "storage/path.h"

namespace synod::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// ------------------------------------------------------------- overflow --

TEST_F(WatchHubTest, SlowStreamOverflowsAloneAndIsCanceled) {
  WatchHubOptions options;
  options.max_stream_buffer = 5;
  Reset(options);
  auto slow = Open();
  auto fast = Open();
  hub_->Create(slow, Req(1, "/a", v1::WATCH_PERSISTENT));
  hub_->Create(slow, Req(2, "/b", v1::WATCH_PERSISTENT_RECURSIVE));
  hub_->Create(fast, Req(1, "/a", v1::WATCH_PERSISTENT));
  Seen fast_seen = Drain(fast);
  for (int i = 0; i < 10; ++i) {
    Set("/a");
    Seen more = Drain(fast);
    fast_seen.events.insert(fast_seen.events.end(), more.events.begin(), more.events.end());
  }
  EXPECT_THAT(fast_seen.Revisions(1), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  Seen seen = Drain(slow);
  EXPECT_THAT(seen.events, IsEmpty());
  EXPECT_EQ(seen.canceled.at(1), v1::WATCH_OVERFLOW);
  EXPECT_EQ(seen.canceled.at(2), v1::WATCH_OVERFLOW);
  EXPECT_THAT(seen.reasons.at(1), ::testing::HasSubstr("from the last revision received"));
  EXPECT_EQ(hub_->GetStats().overflows, 1u);
  EXPECT_EQ(hub_->GetStats().watches, 1u);  // fast's

  // The stream lives on: the client resumes from its last revision (0).
  hub_->Create(slow, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/8));
  runner_.RunAll();
  seen = Drain(slow);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(9, 10));
}

TEST_F(WatchHubTest, OverflowAlsoCancelsOneShotsWhoseEventWasDropped) {
  WatchHubOptions options;
  options.max_stream_buffer = 3;
  Reset(options);
  auto s = Open();
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT));
  hub_->Create(s, Req(2, "/b", v1::WATCH_DATA));
  Set("/b");  // one-shot 2 fires: queue = ack, ack, event
  Set("/a");  // overflow
  Seen seen = Drain(s);
  EXPECT_THAT(seen.events, IsEmpty());
  EXPECT_EQ(seen.canceled.at(1), v1::WATCH_OVERFLOW);
  EXPECT_EQ(seen.canceled.at(2), v1::WATCH_OVERFLOW);
}

TEST_F(WatchHubTest, HeldLiveEventsOfACatchingUpWatchCountTowardTheLimit) {
  WatchHubOptions options;
  options.max_stream_buffer = 4;
  Reset(options);
  auto s = Open();
  for (int i = 0; i < 3; ++i) Set("/a");
  hub_->Create(s, Req(1, "/b", v1::WATCH_PERSISTENT));
  hub_->Create(s, Req(2, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/1));
  Drain(s);
  // The catch-up has not run: live events for watch 2 are held.
  for (int i = 0; i < 4; ++i) Set("/a");
  EXPECT_EQ(hub_->GetStats().overflows, 0u);
  Set("/a");
  EXPECT_EQ(hub_->GetStats().overflows, 1u);
  Seen seen = Drain(s);
  EXPECT_THAT(seen.events, IsEmpty());
  EXPECT_EQ(seen.canceled.at(1), v1::WATCH_OVERFLOW);
  EXPECT_EQ(seen.canceled.at(2), v1::WATCH_OVERFLOW);
  EXPECT_EQ(runner_.RunAll(), 1);  // the stale task does nothing
  EXPECT_EQ(history_.reads(), 0);
}

TEST_F(WatchHubTest, CancelNoticesNeverOverflowButMakeTheStreamBacklogged) {
  WatchHubOptions options;
  options.max_stream_buffer = 4;
  Reset(options);
  auto s = Open();
  for (uint64_t id = 1; id <= 3; ++id) hub_->Create(s, Req(id, "/a", v1::WATCH_PERSISTENT));
  Drain(s);
  hub_->Cancel(s, 0);
  for (uint64_t id = 10; id < 15; ++id) hub_->Cancel(s, id);  // unknown ids
  EXPECT_TRUE(hub_->Backlogged(s));
  EXPECT_EQ(hub_->GetStats().overflows, 0u);
  Seen seen = Drain(s);
  EXPECT_EQ(seen.canceled.size(), 8u);
  EXPECT_FALSE(hub_->Backlogged(s));
}

TEST_F(WatchHubTest, ACreateFloodOverflowsInBoundedSteps) {
  WatchHubOptions options;
  options.max_stream_buffer = 100;
  Reset(options);
  auto s = Open();
  for (uint64_t id = 1; id <= 1000; ++id) hub_->Create(s, Req(id, "/a", v1::WATCH_PERSISTENT));
  // Every 101st ack finds 100 queued: the stream overflows and all its
  // watches so far are canceled.
  EXPECT_EQ(hub_->GetStats().overflows, 9u);
  EXPECT_EQ(hub_->GetStats().watches, 91u);
  Seen seen = Drain(s);
  std::set<uint64_t> ids(seen.created.begin(), seen.created.end());
  for (const auto& [id, code] : seen.canceled) {
    EXPECT_EQ(code, v1::WATCH_OVERFLOW);
    EXPECT_TRUE(ids.insert(id).second) << "both created and canceled: " << id;
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(seen.created.size(), 91u);
}

TEST_F(WatchHubTest, WatchesBeyondTheStreamBoundAreRefusedWithTooManyWatches) {
  WatchHubOptions options;
  options.max_watches_per_stream = 3;
  Reset(options);
  auto s = Open();
  auto other = Open();
  for (uint64_t id = 1; id <= 5; ++id) hub_->Create(s, Req(id, "/a", v1::WATCH_PERSISTENT));
  hub_->Create(other, Req(1, "/a", v1::WATCH_PERSISTENT));
  Seen seen = Drain(s);
  EXPECT_THAT(seen.created, ElementsAre(1, 2, 3));
  EXPECT_EQ(seen.canceled.at(4), v1::TOO_MANY_WATCHES);
  EXPECT_EQ(seen.canceled.at(5), v1::TOO_MANY_WATCHES);
  EXPECT_THAT(seen.reasons.at(4), ::testing::HasSubstr("--max_watches_per_stream"));
  EXPECT_THAT(Drain(other).created, ElementsAre(1));  // another stream has its own bound
  EXPECT_EQ(hub_->GetStats().watches, 4u);
  EXPECT_EQ(hub_->GetStats().refused, 2u);
  // The refused ones changed nothing: the admitted watches still fire, and
  // a cancel makes room again.
  Set("/a");
  EXPECT_THAT(Drain(s).Revisions(1), ElementsAre(1));
  hub_->Cancel(s, 1);
  hub_->Create(s, Req(6, "/a", v1::WATCH_PERSISTENT));
  EXPECT_THAT(Drain(s).created, ElementsAre(6));
}

TEST_F(WatchHubTest, WatchesBeyondTheSessionBoundAreRefusedOnEveryStream) {
  WatchHubOptions options;
  options.max_watches_per_session = 2;
  Reset(options);
  auto s1 = Open();
  auto s2 = Open();
  hub_->Create(s1, Req(1, "/a", v1::WATCH_PERSISTENT, 0, /*session_id=*/77));
  hub_->Create(s2, Req(1, "/b", v1::WATCH_PERSISTENT, 0, /*session_id=*/77));
  hub_->Create(s2, Req(2, "/c", v1::WATCH_PERSISTENT, 0, /*session_id=*/77));
  hub_->Create(s2, Req(3, "/c", v1::WATCH_PERSISTENT, 0, /*session_id=*/78));
  hub_->Create(s2, Req(4, "/c", v1::WATCH_PERSISTENT));  // no session
  Seen seen = Drain(s2);
  EXPECT_THAT(seen.created, ElementsAre(1, 3, 4));
  EXPECT_EQ(seen.canceled.at(2), v1::TOO_MANY_WATCHES);
  EXPECT_THAT(seen.reasons.at(2), ::testing::HasSubstr("--max_watches_per_session"));
  EXPECT_EQ(hub_->GetStats().watches, 4u);
}

TEST_F(WatchHubTest, WatchesBeyondTheReplicaBoundAreRefused) {
  WatchHubOptions options;
  options.max_watches = 2;
  Reset(options);
  auto s1 = Open();
  auto s2 = Open();
  hub_->Create(s1, Req(1, "/a", v1::WATCH_DATA));
  hub_->Create(s2, Req(1, "/a", v1::WATCH_DATA));
  hub_->Create(s2, Req(2, "/a", v1::WATCH_DATA));
  Seen seen = Drain(s2);
  EXPECT_THAT(seen.created, ElementsAre(1));
  EXPECT_EQ(seen.canceled.at(2), v1::TOO_MANY_WATCHES);
  // A one-shot that fires frees its place.
  Set("/a");
  Drain(s1);
  Drain(s2);
  hub_->Create(s2, Req(3, "/a", v1::WATCH_DATA));
  EXPECT_THAT(Drain(s2).created, ElementsAre(3));
}

}  // namespace
}  // namespace synod::server
