// WatchHub: matching, delivery and batching, canceling, refused creates.

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_hub_test_util.h"
#include "server/watch/watch_match.h"
#include "storage/path.h"

namespace synod::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// ------------------------------------------------------------- matching --

TEST(WatchMatchTest, ZooKeeperTriggerTable) {
  using T = v1::EventType;
  const T kAll[] = {v1::EVENT_NODE_CREATED, v1::EVENT_NODE_DELETED, v1::EVENT_NODE_DATA_CHANGED,
                    v1::EVENT_NODE_CHILDREN_CHANGED};
  auto fired = [&](v1::WatchKind kind, const std::string& watch_path, const std::string& path) {
    std::set<T> out;
    for (T t : kAll) {
      if (WatchMatches(kind, watch_path, Ev(t, path, 1))) out.insert(t);
    }
    return out;
  };
  EXPECT_EQ(fired(v1::WATCH_DATA, "/a", "/a"),
            (std::set<T>{v1::EVENT_NODE_DELETED, v1::EVENT_NODE_DATA_CHANGED}));
  EXPECT_EQ(
      fired(v1::WATCH_EXISTS, "/a", "/a"),
      (std::set<T>{v1::EVENT_NODE_CREATED, v1::EVENT_NODE_DELETED, v1::EVENT_NODE_DATA_CHANGED}));
  EXPECT_EQ(fired(v1::WATCH_CHILDREN, "/a", "/a"),
            (std::set<T>{v1::EVENT_NODE_DELETED, v1::EVENT_NODE_CHILDREN_CHANGED}));
  EXPECT_EQ(fired(v1::WATCH_PERSISTENT, "/a", "/a"), std::set<T>(std::begin(kAll), std::end(kAll)));
  EXPECT_EQ(
      fired(v1::WATCH_PERSISTENT_RECURSIVE, "/a", "/a"),
      (std::set<T>{v1::EVENT_NODE_CREATED, v1::EVENT_NODE_DELETED, v1::EVENT_NODE_DATA_CHANGED}));
  // Below the node: only recursive watches, never child events.
  for (v1::WatchKind k :
       {v1::WATCH_DATA, v1::WATCH_EXISTS, v1::WATCH_CHILDREN, v1::WATCH_PERSISTENT}) {
    EXPECT_THAT(fired(k, "/a", "/a/b"), IsEmpty()) << k;
  }
  EXPECT_EQ(
      fired(v1::WATCH_PERSISTENT_RECURSIVE, "/a", "/a/b/c"),
      (std::set<T>{v1::EVENT_NODE_CREATED, v1::EVENT_NODE_DELETED, v1::EVENT_NODE_DATA_CHANGED}));
  EXPECT_THAT(fired(v1::WATCH_PERSISTENT_RECURSIVE, "/a", "/ab"), IsEmpty());
  EXPECT_THAT(fired(v1::WATCH_PERSISTENT_RECURSIVE, "/a/b", "/a"), IsEmpty());
  EXPECT_EQ(fired(v1::WATCH_PERSISTENT_RECURSIVE, "/", "/x/y").size(), 3u);
}

TEST_F(WatchHubTest, OneShotDataWatchFiresOnceWithCanceledTrue) {
  auto s = Open();
  hub_->Create(s, Req(1, "/a", v1::WATCH_DATA));
  Set("/a");
  Set("/a");
  Seen seen = Drain(s);
  EXPECT_THAT(seen.created, ElementsAre(1));
  EXPECT_THAT(seen.Revisions(1), ElementsAre(1));
  EXPECT_EQ(seen.canceled.at(1), v1::OK);
  EXPECT_EQ(hub_->GetStats().watches, 0u);
}

TEST_F(WatchHubTest, OneShotKindsFollowZooKeeper) {
  auto s = Open();
  hub_->Create(s, Req(1, "/a", v1::WATCH_DATA));
  hub_->Create(s, Req(2, "/a", v1::WATCH_EXISTS));
  hub_->Create(s, Req(3, "/a", v1::WATCH_CHILDREN));
  Create("/a/c");  // rev 1: /a/c created, /a children changed
  Seen seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), IsEmpty());
  EXPECT_THAT(seen.Revisions(2), IsEmpty());
  EXPECT_THAT(seen.events, ElementsAre(std::make_tuple(3, 1, v1::EVENT_NODE_CHILDREN_CHANGED,
                                                       std::string("/a"))));
  Delete("/a");  // rev 2: fires the data and exists watches
  seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(2));
  EXPECT_THAT(seen.Revisions(2), ElementsAre(2));

  hub_->Create(s, Req(4, "/b", v1::WATCH_EXISTS));
  hub_->Create(s, Req(5, "/b", v1::WATCH_CHILDREN));
  Create("/b");  // rev 3: exists fires; children watch of /b does not
  seen = Drain(s);
  EXPECT_THAT(seen.Revisions(4), ElementsAre(3));
  EXPECT_THAT(seen.Revisions(5), IsEmpty());
  Delete("/b");  // rev 4: children watch fires on delete of its node
  seen = Drain(s);
  EXPECT_THAT(seen.Revisions(5), ElementsAre(4));
  EXPECT_EQ(hub_->GetStats().watches, 0u);
}

TEST_F(WatchHubTest, PersistentWatchesStayAndRecursiveSkipsChildEvents) {
  auto s = Open();
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT));
  hub_->Create(s, Req(2, "/a", v1::WATCH_PERSISTENT_RECURSIVE));
  Create("/a");    // 1: created /a, children of /
  Create("/a/b");  // 2: created /a/b, children of /a
  Set("/a/b");     // 3
  Set("/a");       // 4
  Delete("/a/b");  // 5
  Seen seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), ElementsAre(1, 2, 4, 5));
  EXPECT_THAT(seen.Revisions(2), ElementsAre(1, 2, 3, 4, 5));
  for (const auto& [id, rev, type, path] : seen.events) {
    if (id == 2) {
      EXPECT_NE(type, v1::EVENT_NODE_CHILDREN_CHANGED) << rev;
    }
    if (id == 1 && rev == 2) {
      EXPECT_EQ(type, v1::EVENT_NODE_CHILDREN_CHANGED);
    }
  }
  EXPECT_THAT(seen.canceled, IsEmpty());
  EXPECT_EQ(hub_->GetStats().watches, 2u);
}

// The path index must agree with WatchMatches, whatever the mix of watches.
TEST_F(WatchHubTest, IndexAgreesWithWatchMatchesOnRandomWorkload) {
  std::mt19937_64 rng(7);
  const std::vector<std::string> paths = {"/", "/a", "/a/b", "/a/b/c", "/a/bc", "/x", "/x/y"};
  const v1::WatchKind kinds[] = {v1::WATCH_DATA, v1::WATCH_CHILDREN, v1::WATCH_EXISTS,
                                 v1::WATCH_PERSISTENT, v1::WATCH_PERSISTENT_RECURSIVE};
  const v1::EventType types[] = {v1::EVENT_NODE_CREATED, v1::EVENT_NODE_DELETED,
                                 v1::EVENT_NODE_DATA_CHANGED, v1::EVENT_NODE_CHILDREN_CHANGED};
  auto s = Open();
  struct Model {
    std::string path;
    v1::WatchKind kind;
  };
  std::map<uint64_t, Model> alive;
  uint64_t next_id = 1;
  for (int round = 0; round < 400; ++round) {
    for (int i = 0; i < 3; ++i) {
      Model m{paths[rng() % paths.size()], kinds[rng() % 5]};
      hub_->Create(s, Req(next_id, m.path, m.kind));
      alive[next_id++] = m;
    }
    std::vector<v1::WatchEvent> events;
    const size_t n = 1 + rng() % 3;
    for (size_t i = 0; i < n; ++i) {
      events.push_back(Ev(types[rng() % 4], paths[rng() % paths.size()], 0));
    }
    Apply(events);
    // Expected: per watch, the matching events of this revision, in order;
    // a one-shot only its first.
    std::multiset<std::pair<uint64_t, size_t>> expected;
    std::vector<uint64_t> fired_one_shots;
    for (const auto& [id, m] : alive) {
      for (size_t i = 0; i < events.size(); ++i) {
        if (WatchMatches(m.kind, m.path, events[i])) {
          expected.emplace(id, i);
          if (IsOneShot(m.kind)) {
            fired_one_shots.push_back(id);
            break;
          }
        }
      }
    }
    for (uint64_t id : fired_one_shots) alive.erase(id);
    Seen seen = Drain(s);
    std::multiset<std::pair<uint64_t, size_t>> got;
    for (const auto& [id, rev, type, path] : seen.events) {
      ASSERT_EQ(rev, applied_);
      size_t i = 0;
      while (i < events.size() && !(events[i].type() == type && events[i].path() == path)) ++i;
      got.emplace(id, i);
    }
    // Duplicate (type, path) pairs in one revision map to their first
    // index; compare counts per (watch, type+path) through that mapping.
    std::multiset<std::pair<uint64_t, size_t>> expected_mapped;
    for (const auto& [id, i] : expected) {
      size_t j = 0;
      while (!(events[j].type() == events[i].type() && events[j].path() == events[i].path())) ++j;
      expected_mapped.emplace(id, j);
    }
    ASSERT_EQ(got, expected_mapped) << "round " << round;
    ASSERT_EQ(hub_->GetStats().watches, alive.size());
  }
}

TEST_F(WatchHubTest, MatchingDoesNotScanUnrelatedWatches) {
  auto s = Open();
  for (uint64_t id = 1; id <= 10000; ++id) {
    hub_->Create(s, Req(id, "/busy", id % 2 ? v1::WATCH_DATA : v1::WATCH_PERSISTENT));
  }
  hub_->Create(s, Req(20000, "/deep/a", v1::WATCH_PERSISTENT_RECURSIVE));
  Drain(s);
  const uint64_t before = hub_->GetStats().match_visits;
  Set("/other");
  Set("/deep/a/b/c/d");  // walks 5 ancestors, visits the one recursive watch
  EXPECT_EQ(hub_->GetStats().match_visits - before, 1u);
  Seen seen = Drain(s);
  EXPECT_THAT(seen.Revisions(20000), ElementsAre(2));
}

TEST_F(WatchHubTest, TenThousandOneShotWatchersEachGetExactlyOneEvent) {
  // Across streams (10,000 clients) and within one stream.
  std::vector<WatchHub::StreamId> streams;
  for (int i = 0; i < 10000; ++i) {
    streams.push_back(Open());
    hub_->Create(streams.back(), Req(1, "/hot", v1::WATCH_DATA));
  }
  auto shared = Open();
  for (uint64_t id = 1; id <= 10000; ++id) hub_->Create(shared, Req(id, "/hot", v1::WATCH_EXISTS));
  for (auto s : streams) Drain(s);
  Drain(shared);
  ASSERT_EQ(hub_->GetStats().watches, 20000u);

  const uint64_t before = hub_->GetStats().match_visits;
  Set("/hot");
  Set("/hot");  // nobody is left to fire
  EXPECT_EQ(hub_->GetStats().match_visits - before, 20000u);
  for (auto s : streams) {
    Seen seen = Drain(s);
    ASSERT_THAT(seen.Revisions(1), ElementsAre(1));
    ASSERT_EQ(seen.canceled.at(1), v1::OK);
    ASSERT_EQ(ReadyCalls(s), 2);  // the created ack, then the event
  }
  Seen seen = Drain(shared);
  EXPECT_EQ(seen.events.size(), 10000u);
  std::set<uint64_t> ids;
  for (const auto& e : seen.events) ids.insert(std::get<0>(e));
  EXPECT_EQ(ids.size(), 10000u);
  EXPECT_EQ(hub_->GetStats().watches, 0u);
}

TEST_F(WatchHubTest, OnReadyIsCalledOnceUntilPollFindsTheQueueEmpty) {
  auto s = Open();
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT));
  EXPECT_EQ(ReadyCalls(s), 1);
  Set("/a");
  Set("/a");
  EXPECT_EQ(ReadyCalls(s), 1);
  v1::WatchResponse r;
  ASSERT_TRUE(hub_->Poll(s, &r));  // the ack
  ASSERT_TRUE(hub_->Poll(s, &r));  // both events, batched
  EXPECT_EQ(r.events_size(), 2);
  Set("/a");  // the consumer has not seen the queue empty: no new call
  EXPECT_EQ(ReadyCalls(s), 1);
  ASSERT_TRUE(hub_->Poll(s, &r));
  ASSERT_FALSE(hub_->Poll(s, &r));
  Set("/a");
  EXPECT_EQ(ReadyCalls(s), 2);
}

TEST_F(WatchHubTest, ResponsesBatchOneWatchAtATimeUpToTheLimit) {
  WatchHubOptions options;
  options.max_events_per_response = 3;
  Reset(options);
  auto s = Open();
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT));
  hub_->Create(s, Req(2, "/a", v1::WATCH_PERSISTENT));
  for (int i = 0; i < 4; ++i) Set("/a");
  Seen seen = Drain(s);
  // 2 acks, then events alternate between the watches: one response each.
  EXPECT_EQ(seen.responses, 2 + 8);
  hub_->Cancel(s, 2);
  Drain(s);
  for (int i = 0; i < 7; ++i) Set("/a");
  seen = Drain(s);
  EXPECT_EQ(seen.responses, 3);  // 3 + 3 + 1
  EXPECT_THAT(seen.Revisions(1), ElementsAre(5, 6, 7, 8, 9, 10, 11));
}

// ------------------------------------------------------- cancel, errors --

TEST_F(WatchHubTest, CancelOneAllAndUnknown) {
  auto s = Open();
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT));
  hub_->Create(s, Req(2, "/a", v1::WATCH_DATA));
  hub_->Create(s, Req(3, "/b", v1::WATCH_PERSISTENT));
  Drain(s);
  hub_->Cancel(s, 1);
  hub_->Cancel(s, 99);
  Seen seen = Drain(s);
  EXPECT_EQ(seen.canceled.at(1), v1::OK);
  EXPECT_EQ(seen.canceled.at(99), v1::OK);
  EXPECT_THAT(seen.reasons.at(99), ::testing::HasSubstr("no such watch"));
  Set("/a");
  seen = Drain(s);
  EXPECT_THAT(seen.Revisions(1), IsEmpty());
  EXPECT_THAT(seen.Revisions(2), ElementsAre(1));
  hub_->Cancel(s, 0);
  seen = Drain(s);
  EXPECT_EQ(seen.canceled.size(), 1u);  // 3 (2 fired already)
  EXPECT_EQ(seen.canceled.at(3), v1::OK);
  EXPECT_EQ(hub_->GetStats().watches, 0u);
}

TEST_F(WatchHubTest, CancelSessionRemovesItsWatchesOnEveryStream) {
  auto s1 = Open();
  auto s2 = Open();
  hub_->Create(s1, Req(1, "/a", v1::WATCH_PERSISTENT, 0, /*session_id=*/77));
  hub_->Create(s1, Req(2, "/a", v1::WATCH_PERSISTENT, 0, /*session_id=*/78));
  hub_->Create(s2, Req(1, "/b", v1::WATCH_CHILDREN, 0, /*session_id=*/77));
  Drain(s1);
  Drain(s2);
  hub_->CancelSession(77);
  Seen seen1 = Drain(s1);
  Seen seen2 = Drain(s2);
  EXPECT_EQ(seen1.canceled.at(1), v1::SESSION_EXPIRED);
  EXPECT_FALSE(seen1.canceled.contains(2));
  EXPECT_EQ(seen2.canceled.at(1), v1::SESSION_EXPIRED);
  Set("/a");
  EXPECT_THAT(Drain(s1).Revisions(2), ElementsAre(1));
  EXPECT_EQ(hub_->GetStats().watches, 1u);
}

TEST_F(WatchHubTest, BadCreatesAreRefused) {
  auto s = Open();
  hub_->Create(s, Req(1, "a/b", v1::WATCH_DATA));
  hub_->Create(s, Req(0, "/a", v1::WATCH_DATA));
  hub_->Create(s, Req(2, "/a", v1::WATCH_DATA));
  hub_->Create(s, Req(2, "/b", v1::WATCH_DATA));  // id in use
  hub_->Create(s, Req(3, "/a", static_cast<v1::WatchKind>(42)));
  Seen seen = Drain(s);
  EXPECT_THAT(seen.created, ElementsAre(2));
  EXPECT_EQ(seen.canceled.at(1), v1::INVALID_PATH);
  EXPECT_EQ(seen.canceled.at(0), v1::INVALID_ARGUMENT);
  EXPECT_EQ(seen.canceled.at(3), v1::INVALID_ARGUMENT);
  EXPECT_EQ(hub_->GetStats().watches, 1u);
}

TEST_F(WatchHubTest, CloseStreamDropsItsWatchesAndStopsCallbacks) {
  auto s = Open();
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT, 0, 5));
  Set("/a");
  Set("/a");
  hub_->Create(s, Req(2, "/a", v1::WATCH_PERSISTENT, /*start_revision=*/1));
  const int calls = ReadyCalls(s);
  hub_->CloseStream(s);
  Set("/a");
  runner_.RunAll();  // the catch-up task finds its watch gone
  EXPECT_EQ(history_.reads(), 0);
  EXPECT_EQ(ReadyCalls(s), calls);
  v1::WatchResponse r;
  EXPECT_FALSE(hub_->Poll(s, &r));
  EXPECT_EQ(hub_->GetStats().watches, 0u);
  EXPECT_EQ(hub_->GetStats().streams, 0u);
  hub_->CancelSession(5);  // nothing left
  hub_->CloseStream(s);    // idempotent
}

TEST_F(WatchHubTest, ReplayedRevisionsAreIgnored) {
  Reset(WatchHubOptions{}, /*applied=*/10);
  auto s = Open();
  hub_->Create(s, Req(1, "/a", v1::WATCH_PERSISTENT));
  hub_->OnApplied(9, {Ev(v1::EVENT_NODE_DATA_CHANGED, "/a", 9)});
  hub_->OnApplied(10, {Ev(v1::EVENT_NODE_DATA_CHANGED, "/a", 10)});
  hub_->OnApplied(11, {Ev(v1::EVENT_NODE_DATA_CHANGED, "/a", 11)});
  EXPECT_THAT(Drain(s).Revisions(1), ElementsAre(11));
}

}  // namespace
}  // namespace synod::server
