#include "server/watch/watch_hub.h"

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
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/watch/watch_match.h"
#include "storage/path.h"

namespace synod::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

v1::WatchEvent Ev(v1::EventType type, std::string path, uint64_t revision) {
  v1::WatchEvent e;
  e.set_type(type);
  e.set_path(std::move(path));
  e.set_revision(revision);
  return e;
}

v1::WatchCreateRequest Req(uint64_t id, std::string path, v1::WatchKind kind,
                           uint64_t start_revision = 0, uint64_t session_id = 0) {
  v1::WatchCreateRequest r;
  r.set_watch_id(id);
  r.set_path(std::move(path));
  r.set_kind(kind);
  r.set_start_revision(start_revision);
  r.set_session_id(session_id);
  return r;
}

// Runs posted tasks only when the test says so: catch-up interleavings are
// chosen by the test, not by a scheduler.
class ManualRunner : public TaskRunner {
 public:
  void Post(absl::AnyInvocable<void() &&> task) override { tasks_.push_back(std::move(task)); }
  // Runs tasks (including ones they post) until none is left; returns how many ran.
  int RunAll() {
    int n = 0;
    while (!tasks_.empty()) {
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      std::move(task)();
      ++n;
    }
    return n;
  }
  bool RunOne() {
    if (tasks_.empty()) return false;
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    std::move(task)();
    return true;
  }
  size_t pending() const { return tasks_.size(); }

 private:
  std::deque<absl::AnyInvocable<void() &&>> tasks_;
};

// The replicated event log as a list; pages hold whole revisions, like the
// store's.
class FakeHistory : public EventHistory {
 public:
  absl::StatusOr<EventPage> EventsAfter(uint64_t after, size_t limit) override {
    absl::StatusOr<EventPage> page = Read(after, limit);
    // Runs what the test wants to happen while a read is in flight (the
    // hub's lock is not held: the apply thread goes on).
    std::function<void()> hook;
    hook.swap(read_hook_);
    if (hook) hook();
    return page;
  }
  void OnNextRead(std::function<void()> hook) { read_hook_ = std::move(hook); }

  absl::StatusOr<EventPage> Read(uint64_t after, size_t limit) {
    absl::MutexLock lock(&mu_);
    ++reads_;
    if (!fail_.ok()) return fail_;
    EventPage page;
    page.revision = applied_;
    if (after < compact_revision_) {
      page.code = v1::COMPACTED;
      return page;
    }
    for (size_t i = 0; i < events_.size(); ++i) {
      const v1::WatchEvent& e = events_[i];
      if (e.revision() <= after) continue;
      if (limit != 0 && page.events.size() >= limit &&
          e.revision() != page.events.back().revision()) {
        page.has_more = true;
        break;
      }
      page.events.push_back(e);
    }
    return page;
  }

  // Commits one revision's events (the store commits before the hub hears).
  void Commit(uint64_t revision, const std::vector<v1::WatchEvent>& events) {
    absl::MutexLock lock(&mu_);
    for (const auto& e : events) events_.push_back(e);
    applied_ = revision;
  }
  void Compact(uint64_t revision) {
    absl::MutexLock lock(&mu_);
    compact_revision_ = revision;
  }
  void Fail(absl::Status s) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(s);
  }
  int reads() {
    absl::MutexLock lock(&mu_);
    return reads_;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t compact_revision_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
  int reads_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> read_hook_;  // test thread only
};

// What a consumer saw on one stream, flattened.
struct Seen {
  std::vector<uint64_t> created;
  // (watch_id, revision, type, path) per event.
  std::vector<std::tuple<uint64_t, uint64_t, v1::EventType, std::string>> events;
  // watch_id -> cancel code (OK for a fired one-shot).
  std::map<uint64_t, v1::ErrorCode> canceled;
  std::map<uint64_t, std::string> reasons;
  int responses = 0;

  std::vector<uint64_t> Revisions(uint64_t watch_id) const {
    std::vector<uint64_t> out;
    for (const auto& [id, rev, type, path] : events) {
      if (id == watch_id) out.push_back(rev);
    }
    return out;
  }
};

class WatchHubTest : public ::testing::Test {
 protected:
  WatchHubTest() { Reset(WatchHubOptions{}); }

  void Reset(WatchHubOptions options, uint64_t applied = 0) {
    hub_.reset();
    options.validate_path = storage::ValidatePath;
    hub_ = std::make_unique<WatchHub>(std::move(options), &history_, &runner_, applied);
    applied_ = applied;
  }

  WatchHub::StreamId Open() {
    auto counter = std::make_shared<int>(0);
    WatchHub::StreamId id = hub_->OpenStream([counter] { ++*counter; });
    ready_counts_[id] = counter;
    return id;
  }
  int ReadyCalls(WatchHub::StreamId id) { return *ready_counts_[id]; }

  // Commits and applies one revision.
  void Apply(std::vector<v1::WatchEvent> events) {
    ++applied_;
    for (auto& e : events) e.set_revision(applied_);
    history_.Commit(applied_, events);
    hub_->OnApplied(applied_, events);
  }
  void Set(const std::string& path) { Apply({Ev(v1::EVENT_NODE_DATA_CHANGED, path, 0)}); }
  void Create(const std::string& path) {
    Apply({Ev(v1::EVENT_NODE_CREATED, path, 0),
           Ev(v1::EVENT_NODE_CHILDREN_CHANGED, std::string(storage::ParentPath(path)), 0)});
  }
  void Delete(const std::string& path) {
    Apply({Ev(v1::EVENT_NODE_DELETED, path, 0),
           Ev(v1::EVENT_NODE_CHILDREN_CHANGED, std::string(storage::ParentPath(path)), 0)});
  }

  Seen Drain(WatchHub::StreamId id) {
    Seen seen;
    v1::WatchResponse r;
    while (hub_->Poll(id, &r)) {
      ++seen.responses;
      if (r.created()) seen.created.push_back(r.watch_id());
      for (const auto& e : r.events()) {
        seen.events.emplace_back(r.watch_id(), e.revision(), e.type(), e.path());
      }
      if (r.canceled()) {
        EXPECT_FALSE(seen.canceled.contains(r.watch_id())) << "canceled twice: " << r.watch_id();
        seen.canceled[r.watch_id()] = r.cancel_code();
        seen.reasons[r.watch_id()] = r.cancel_reason();
      }
    }
    return seen;
  }

  FakeHistory history_;
  ManualRunner runner_;
  std::unique_ptr<WatchHub> hub_;
  uint64_t applied_ = 0;
  std::map<WatchHub::StreamId, std::shared_ptr<int>> ready_counts_;
};

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
