// WatchHub: starting from a past revision (history replay, then live with
// no gap), snapshot restore, and catch-up on a real worker thread.

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_hub_test_util.h"
#include "storage/path.h"

namespace synod::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// ------------------------------------------------------------- catch-up --

TEST_F(WatchHubTest, StartInThePastReplaysHistoryThenLiveWithNoGapOrDuplicate) {
  auto s = Open();
  for (int i = 0; i < 10; ++i) Set(i % 2 ? "/a" : "/b");  // revs 1..10; /a at even revs
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/3));
  EXPECT_EQ(hub_->GetStats().catching_up, 1u);
  Set("/a");  // 11: live, held until history is read
  Set("/b");  // 12
  Set("/a");  // 13
  Seen seen = Drain(s);
  EXPECT_THAT(seen.created, ElementsAre(1));
  EXPECT_THAT(seen.events, IsEmpty());
  runner_.RunAll();
  seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(4, 6, 8, 10, 11, 13));
  Set("/a");  // 14: live now
  seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(14));
  EXPECT_EQ(hub_->GetStats().catching_up, 0u);
}

TEST_F(WatchHubTest, HistoryAheadOfTheHubIsNotDeliveredTwice) {
  auto s = Open();
  for (int i = 0; i < 5; ++i) Set("/a");
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/2));
  // The store commits 6 and 7 before the apply thread tells the hub.
  history_.Commit(6, {Ev(v1::EVENT_NODE_DATA_CHANGED, "/a", 6)});
  history_.Commit(7, {Ev(v1::EVENT_NODE_DATA_CHANGED, "/a", 7)});
  runner_.RunAll();  // history covers up to 7
  hub_->OnApplied(6, {Ev(v1::EVENT_NODE_DATA_CHANGED, "/a", 6)});
  hub_->OnApplied(7, {Ev(v1::EVENT_NODE_DATA_CHANGED, "/a", 7)});
  applied_ = 7;
  Set("/a");  // 8
  Seen seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(3, 4, 5, 6, 7, 8));
}

TEST_F(WatchHubTest, HistoryIsReadInPagesWithoutSplittingARevision) {
  WatchHubOptions options;
  options.history_page_size = 4;
  Reset(options);
  auto s = Open();
  for (int i = 0; i < 30; ++i) Create("/r/n" + std::to_string(i));  // 2 events per revision
  hub_->Create(s, Req(1, "/r", v1::WATCH_PERSISTENT_RECURSIVE, /*start_revision=*/5));
  hub_->Create(s, Req(2, "/r", v1::WATCH_PERSISTENT, /*start_revision=*/5));
  const int ran = runner_.RunAll();
  EXPECT_GT(ran, 10);  // many pages
  Seen seen = Drain(s);
  std::vector<uint64_t> want;
  for (uint64_t r = 6; r <= 30; ++r) want.push_back(r);
  EXPECT_EQ(seen.Revisions(1), want);  // the creates
  EXPECT_EQ(seen.Revisions(2), want);  // the child events of /r
}

TEST_F(WatchHubTest, CatchUpPausesWhileTheStreamIsFullAndResumesAsItDrains) {
  WatchHubOptions options;
  options.max_stream_buffer = 8;
  options.history_page_size = 2;
  Reset(options);
  auto s = Open();
  for (int i = 0; i < 40; ++i) Set("/a");
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/1));
  std::vector<uint64_t> got;
  for (int guard = 0; guard < 1000 && hub_->GetStats().catching_up > 0; ++guard) {
    runner_.RunAll();  // fills the queue past half, then parks
    EXPECT_LE(hub_->GetStats().queued, 8u);
    v1::WatchResponse r;
    if (hub_->Poll(s, &r)) {
      for (const auto& e : r.events()) got.push_back(e.revision());
    }
  }
  Seen rest = Drain(s);
  for (uint64_t r : rest.Revisions(1)) got.push_back(r);
  std::vector<uint64_t> want;
  for (uint64_t r = 2; r <= 40; ++r) want.push_back(r);
  EXPECT_EQ(got, want);
  EXPECT_EQ(hub_->GetStats().overflows, 0u);
}

TEST_F(WatchHubTest, CompactedHistoryCancelsWithCompacted) {
  auto s = Open();
  for (int i = 0; i < 10; ++i) Set("/a");
  history_.Compact(5);
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/4));
  hub_->Create(s, Req(2, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/5));
  runner_.RunAll();
  Seen seen = Drain(s);
  EXPECT_EQ(seen.canceled.at(1), v1::COMPACTED);
  EXPECT_THAT(seen.reasons.at(1), ::testing::HasSubstr("compacted"));
  EXPECT_FALSE(seen.canceled.contains(2));
  EXPECT_THAT(seen.Revisions(2), ElementsAre(6, 7, 8, 9, 10));
}

TEST_F(WatchHubTest, HistoryReadFailureCancelsWithInternal) {
  auto s = Open();
  Set("/a");
  Set("/a");
  history_.Fail(absl::DataLossError("bad record"));
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/1));
  runner_.RunAll();
  Seen seen = Drain(s);
  EXPECT_EQ(seen.canceled.at(1), v1::INTERNAL);
  EXPECT_THAT(seen.reasons.at(1), ::testing::HasSubstr("bad record"));
  EXPECT_EQ(hub_->GetStats().watches, 0u);
}

TEST_F(WatchHubTest, ReadWithWatchFiresAtOnceForAChangeAfterTheRead) {
  auto s = Open();
  Create("/cfg");  // 1
  // The client read /cfg at revision 1; then it changed at 2 (and /x at 3)
  // before the watch arrived.
  Set("/cfg");
  Set("/x");
  hub_->Create(s, Req(1, "/cfg", v1::WATCH_DATA, /*start_revision=*/1));
  runner_.RunAll();
  Set("/cfg");  // 4: the one-shot already fired
  Seen seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(2));
  EXPECT_EQ(seen.canceled.at(1), v1::OK);
  EXPECT_EQ(hub_->GetStats().watches, 0u);
}

TEST_F(WatchHubTest, OneShotCatchingUpFiresOnAHeldLiveEvent) {
  auto s = Open();
  Create("/cfg");  // 1
  Set("/x");       // 2
  hub_->Create(s, Req(1, "/cfg", v1::WATCH_DATA, /*start_revision=*/1));
  // The history read sees revision 2; meanwhile 3 and 4 are applied.
  history_.OnNextRead([&] {
    Set("/cfg");
    Set("/cfg");
  });
  runner_.RunAll();
  Seen seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(3));
  EXPECT_EQ(hub_->GetStats().watches, 0u);
}

TEST_F(WatchHubTest, LiveEventsDuringTheReadFollowTheHistory) {
  auto s = Open();
  for (int i = 0; i < 3; ++i) Set("/a");
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/1));
  history_.OnNextRead([&] {
    Set("/a");  // 4
    Set("/b");  // 5
    Set("/a");  // 6
  });
  runner_.RunAll();
  Set("/a");  // 7
  Seen seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(2, 3, 4, 6, 7));
  EXPECT_EQ(history_.reads(), 1);
}

TEST_F(WatchHubTest, OneShotWithNoChangeSinceTheReadStaysArmed) {
  auto s = Open();
  Create("/cfg");  // 1
  Set("/x");       // 2
  hub_->Create(s, Req(1, "/cfg", v1::WATCH_DATA, /*start_revision=*/1));
  runner_.RunAll();
  EXPECT_EQ(hub_->GetStats().watches, 1u);
  Set("/cfg");  // 3
  Seen seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(3));
}

TEST_F(WatchHubTest, StartRevisionAheadOfThisReplicaFiltersUntilReached) {
  auto s = Open();
  Set("/a");  // 1
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/3));
  hub_->Create(s, Req(2, "/a", v1::WATCH_DATA, /*start_revision=*/3));
  EXPECT_EQ(runner_.pending(), 0u);  // nothing to read
  Set("/a");                         // 2
  Set("/a");                         // 3
  Set("/a");                         // 4
  Seen seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(4));
  EXPECT_THAT(seen.Revisions(2), ElementsAre(4));
}

TEST_F(WatchHubTest, RestoreFromSnapshotReplaysTheSkippedRevisions) {
  auto s = Open();
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT_RECURSIVE));
  Set("/a");  // 1
  // A snapshot brings the store from 1 to 4 without OnApplied.
  history_.Commit(2, {Ev(v1::EVENT_NODE_DATA_CHANGED, "/a", 2)});
  history_.Commit(3, {Ev(v1::EVENT_NODE_DATA_CHANGED, "/b", 3)});
  history_.Commit(4, {Ev(v1::EVENT_NODE_CREATED, "/a/c", 4)});
  hub_->OnRestored(4);
  applied_ = 4;
  Set("/a");  // 5: held while catching up
  runner_.RunAll();
  Set("/a");  // 6
  Seen seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(1, 2, 4, 5, 6));
}

// ---------------------------------------------------- with real threads --

TEST(WatchHubThreadsTest, CatchUpOnAWorkerThreadWhileTheApplyThreadRuns) {
  FakeHistory history;
  WorkerThread worker;
  WatchHubOptions options;
  options.history_page_size = 7;
  auto hub = std::make_unique<WatchHub>(options, &history, &worker, 0);
  uint64_t rev = 0;
  auto apply = [&] {
    ++rev;
    std::vector<v1::WatchEvent> events = {Ev(v1::EVENT_NODE_DATA_CHANGED, "/a", rev)};
    history.Commit(rev, events);
    hub->OnApplied(rev, events);
  };
  for (int i = 0; i < 200; ++i) apply();

  absl::Mutex mu;
  bool ready = false;
  auto stream = hub->OpenStream([&] {
    absl::MutexLock lock(&mu);
    ready = true;
  });
  hub->Create(stream, Req(1, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/50));
  std::thread applier([&] {
    for (int i = 0; i < 300; ++i) apply();
  });
  std::vector<uint64_t> got;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (got.size() < 450 && absl::Now() < deadline) {
    {
      absl::MutexLock lock(&mu);
      mu.AwaitWithDeadline(absl::Condition(&ready), deadline);
      ready = false;
    }
    v1::WatchResponse r;
    while (hub->Poll(stream, &r)) {
      for (const auto& e : r.events()) got.push_back(e.revision());
    }
  }
  applier.join();
  std::vector<uint64_t> want;
  for (uint64_t r = 51; r <= 500; ++r) want.push_back(r);
  EXPECT_EQ(got, want);
  worker.Stop();  // before the hub goes
  hub.reset();
}

}  // namespace
}  // namespace synod::server
