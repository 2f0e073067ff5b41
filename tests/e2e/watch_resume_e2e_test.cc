// End-to-end checks of watches on real replicas: a persistent-recursive
// watcher that loses its replica resumes on another from its last revision
// and sees every write once, in order; a watch from below the compaction
// revision fails with COMPACTED; 10,000 one-shot watches spread over all
// replicas fire exactly once each for one write.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/e2e/session_calls.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/wait.h"

namespace synod::e2e {
namespace {

using ::synod::testing::WaitUntil;
using Logs = std::map<uint64_t, WatchStream::WatchLog>;

std::string LogTails(TestCluster& c) {
  std::string out;
  for (int id = 1; id <= c.size(); ++id) out += c.LogTail(id, 2500) + "\n";
  return out;
}

// One write of the test's workload and the event a subtree watcher must see
// for it. `revision` is exact for creates and sets (the new stat's mzxid);
// for a delete it is only bounded by the reply's applied revision.
struct Expected {
  v1::EventType type;
  std::string path;
  uint64_t revision = 0;
  bool exact = true;
};

// Writes to the leader, cycling over a few children of /w: create the
// missing, delete every fourth present one, set the rest.
class Writer {
 public:
  explicit Writer(TestCluster* c, int leader) : c_(c), leader_(leader) {}

  // One write; false if the leader did not apply it.
  bool Step() {
    const std::string path = absl::StrCat("/w/k", n_ % 7);
    ++n_;
    Expected e;
    e.path = path;
    v1::ErrorCode code;
    if (!present_.contains(path)) {
      e.type = v1::EVENT_NODE_CREATED;
      code = CreateNode(c_->tree(leader_), path, absl::StrCat(n_), absl::Seconds(10), &e.revision);
      present_.insert(path);
    } else if (n_ % 4 == 0) {
      e.type = v1::EVENT_NODE_DELETED;
      e.exact = false;
      v1::DeleteRequest req;
      req.mutable_op()->set_path(path);
      v1::DeleteResponse resp;
      grpc::Status s = c_->tree(leader_)->Delete(Ctx(absl::Seconds(10)).get(), req, &resp);
      code = CodeOf(s, resp.header());
      e.revision = resp.header().revision();
      present_.erase(path);
    } else {
      e.type = v1::EVENT_NODE_DATA_CHANGED;
      code = SetNode(c_->tree(leader_), path, absl::StrCat(n_), absl::Seconds(10), &e.revision);
    }
    if (code != v1::OK) return false;
    expected_.push_back(e);
    return true;
  }

  const std::vector<Expected>& expected() const { return expected_; }

 private:
  TestCluster* const c_;
  const int leader_;
  int n_ = 0;
  std::set<std::string> present_;
  std::vector<Expected> expected_;
};

uint64_t CompactRevision(TestCluster& c, int id) {
  v1::HistoryRequest req;
  req.set_path("/w");
  req.mutable_read()->set_consistency(v1::SERIALIZABLE);
  v1::HistoryResponse resp;
  if (!c.tree(id)->History(Ctx().get(), req, &resp).ok()) return 0;
  return resp.compact_revision();
}

bool WatchCanceled(WatchStream& w, uint64_t id, absl::Duration timeout) {
  return w.WaitFor(
      [id](const Logs& logs) {
        auto it = logs.find(id);
        return it != logs.end() && it->second.canceled.has_value();
      },
      timeout);
}

TEST(WatchResumeE2ETest, RecursiveWatchResumesOnAnotherReplicaThenCompacts) {
  // More revisions than the resumed watcher can have missed (at most
  // kWrites - 30, plus a few leader entries), so its resume point is never
  // compacted; few enough that some more writes compact the first event.
  constexpr uint64_t kRetention = 100;
  TestCluster::Options options;
  options.extra_flags = {absl::StrCat("--history_retention=", kRetention)};
  TestCluster c(options);
  ASSERT_TRUE(c.StartAll().ok()) << LogTails(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << LogTails(c);
  const int a = leader % 3 + 1;
  const int b = a % 3 + 1;
  uint64_t w_created = 0;
  ASSERT_EQ(CreateNode(c.tree(leader), "/w", "", absl::Seconds(5), &w_created), v1::OK);

  // From /w's creation on: member `a` may not have applied it yet, and a
  // watch from "now" there would also see /w appear.
  auto first = std::make_unique<WatchStream>(c.channel(a));
  ASSERT_TRUE(first->Create(1, "/w", v1::WATCH_PERSISTENT_RECURSIVE, w_created));
  ASSERT_TRUE(first->WaitCreated(1, 1, absl::Seconds(10)));

  // Writes run without pause; the watcher drops its stream (as when its
  // replica is lost) once it has seen some of them, while more are sent.
  constexpr int kWrites = 100;
  Writer writer(&c, leader);
  std::atomic<bool> writes_ok{true};
  std::thread writes([&] {
    for (int i = 0; i < kWrites && writes_ok; ++i) writes_ok = writer.Step();
  });
  const bool saw_some = first->WaitFor(
      [](const Logs& logs) { return logs.count(1) && logs.at(1).events.size() >= 30; },
      absl::Seconds(30));
  first->Close();
  std::vector<v1::WatchEvent> seen = first->Log(1).events;
  if (!saw_some) {
    writes_ok = false;
    writes.join();
    FAIL() << "the first watcher saw " << seen.size() << " events\n" << LogTails(c);
  }
  ASSERT_FALSE(seen.empty());
  const uint64_t resume_from = seen.back().revision();

  auto second = std::make_unique<WatchStream>(c.channel(b));
  ASSERT_TRUE(second->Create(1, "/w", v1::WATCH_PERSISTENT_RECURSIVE, resume_from));
  writes.join();
  ASSERT_TRUE(writes_ok) << LogTails(c);
  const std::vector<Expected>& expected = writer.expected();
  ASSERT_EQ(expected.size(), static_cast<size_t>(kWrites));
  // The last write's event (a delete's exact revision is not known, so wait
  // for the count).
  ASSERT_TRUE(second->WaitFor(
      [&](const Logs& logs) {
        return logs.count(1) && (logs.at(1).canceled.has_value() ||
                                 seen.size() + logs.at(1).events.size() >= expected.size());
      },
      absl::Seconds(30)))
      << "resumed watcher has " << second->Log(1).events.size() << " events after " << seen.size();
  ASSERT_FALSE(second->Log(1).canceled.has_value()) << second->Log(1).canceled->DebugString();
  std::vector<v1::WatchEvent> resumed = second->Log(1).events;
  std::printf(
      "first watcher (member %d): %zu events up to revision %llu; resumed on member %d: "
      "%zu events\n",
      a, seen.size(), static_cast<unsigned long long>(resume_from), b, resumed.size());
  seen.insert(seen.end(), resumed.begin(), resumed.end());

  // Every write once, in order, with its revision.
  ASSERT_EQ(seen.size(), expected.size()) << [&] {
    std::string diff = "got (type path revision):";
    for (const v1::WatchEvent& e : seen) {
      absl::StrAppend(&diff, " ", e.type(), e.path(), "@", e.revision());
    }
    diff += "\nwant:";
    for (const Expected& e : expected) absl::StrAppend(&diff, " ", e.type, e.path, "@", e.revision);
    return diff;
  }();
  uint64_t previous = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("write ", i, " (", expected[i].path, ")"));
    EXPECT_EQ(seen[i].type(), expected[i].type);
    EXPECT_EQ(seen[i].path(), expected[i].path);
    EXPECT_GT(seen[i].revision(), previous);
    if (expected[i].exact) {
      EXPECT_EQ(seen[i].revision(), expected[i].revision);
    } else {
      EXPECT_LE(seen[i].revision(), expected[i].revision);
    }
    previous = seen[i].revision();
  }
  // Nothing extra arrives later either.
  ASSERT_EQ(CreateNode(c.tree(leader), "/w/last", ""), v1::OK);
  ASSERT_TRUE(second->WaitFor(
      [&](const Logs& logs) { return logs.at(1).events.size() == resumed.size() + 1; },
      absl::Seconds(10)));
  EXPECT_EQ(second->Log(1).events.back().path(), "/w/last");
  second->Close();

  // Write on until the leader's next compaction (at applied - retention,
  // once that is a step past the last one) passes the first event.
  const uint64_t first_event = expected.front().revision;
  ASSERT_EQ(CreateNode(c.tree(leader), "/pad", ""), v1::OK);
  int padding = 0;
  uint64_t applied = 0;
  while (padding < 1000 && applied <= first_event + kRetention + kRetention / 8) {
    ASSERT_EQ(SetNode(c.tree(leader), "/pad", "", absl::Seconds(5), &applied), v1::OK);
    ++padding;
  }
  uint64_t compacted = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        compacted = std::min(CompactRevision(c, a), CompactRevision(c, b));
        return compacted > first_event;
      },
      absl::Seconds(10)))
      << "no compaction past " << first_event << " at revision " << applied << "\n"
      << LogTails(c);
  std::printf("compaction revision %llu after %d more writes\n",
              static_cast<unsigned long long>(compacted), padding);
  for (int member : {a, b}) {
    SCOPED_TRACE(absl::StrCat("member ", member));
    WatchStream late(c.channel(member));
    ASSERT_TRUE(late.Create(1, "/w", v1::WATCH_PERSISTENT_RECURSIVE, first_event));
    ASSERT_TRUE(WatchCanceled(late, 1, absl::Seconds(10)));
    EXPECT_EQ(late.Log(1).canceled->cancel_code(), v1::COMPACTED)
        << late.Log(1).canceled->DebugString();
    EXPECT_TRUE(late.Log(1).events.empty());
    // From the compaction revision itself history is complete: the watch
    // lives and replays the kept events of /w (the padding is elsewhere).
    ASSERT_TRUE(late.Create(2, "/w", v1::WATCH_PERSISTENT_RECURSIVE, compacted));
    ASSERT_TRUE(late.WaitCreated(2, 2, absl::Seconds(10)));
    uint64_t last = 0;
    ASSERT_EQ(SetNode(c.tree(leader), "/w/last", "x", absl::Seconds(5), &last), v1::OK);
    ASSERT_TRUE(late.WaitForRevision(2, last, absl::Seconds(10)));
    EXPECT_EQ(late.Log(2).events.back().path(), "/w/last");
    EXPECT_FALSE(late.Log(2).canceled.has_value());
  }
}

TEST(WatchResumeE2ETest, TenThousandOneShotWatchesFireOnceEach) {
  TestCluster c({});
  ASSERT_TRUE(c.StartAll().ok()) << LogTails(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << LogTails(c);
  ASSERT_EQ(CreateNode(c.tree(leader), "/hot", "0"), v1::OK);

  constexpr int kWatches = 10000;
  constexpr int kStreamsPerReplica = 4;
  constexpr uint64_t kSentinel = kWatches + 1;
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int id = 1; id <= 3; ++id) {
    for (int k = 0; k < kStreamsPerReplica; ++k) {
      streams.push_back(std::make_unique<WatchStream>(c.channel(id)));
    }
  }
  // Watch i (1-based) lives on stream i % streams; each replica holds a
  // third of them. Every replica must have applied /hot first.
  for (int id = 1; id <= 3; ++id) {
    ASSERT_TRUE(WaitUntil(
        [&] {
          std::string data;
          return GetNode(c.tree(id), "/hot", &data, v1::SERIALIZABLE) == v1::OK;
        },
        absl::Seconds(10)));
  }
  for (uint64_t i = 1; i <= kWatches; ++i) {
    ASSERT_TRUE(streams[i % streams.size()]->Create(i, "/hot", v1::WATCH_DATA));
  }
  for (size_t s = 0; s < streams.size(); ++s) {
    ASSERT_TRUE(streams[s]->WaitFor(
        [&](const Logs& logs) {
          for (uint64_t i = s == 0 ? streams.size() : s; i <= kWatches; i += streams.size()) {
            auto it = logs.find(i);
            if (it == logs.end() || !it->second.created) return false;
          }
          return true;
        },
        absl::Seconds(30)))
        << "stream " << s;
    ASSERT_TRUE(streams[s]->Create(kSentinel, "/sentinel", v1::WATCH_EXISTS));
    ASSERT_TRUE(streams[s]->WaitCreated(kSentinel, kSentinel, absl::Seconds(10)));
  }

  const absl::Time set_at = absl::Now();
  uint64_t revision = 0;
  ASSERT_EQ(SetNode(c.tree(leader), "/hot", "1", absl::Seconds(5), &revision), v1::OK);
  // A second change, then the sentinel: any second event of a one-shot
  // watch would arrive before the sentinel's.
  ASSERT_EQ(SetNode(c.tree(leader), "/hot", "2"), v1::OK);
  ASSERT_EQ(CreateNode(c.tree(leader), "/sentinel", ""), v1::OK);
  size_t fired = 0;
  for (size_t s = 0; s < streams.size(); ++s) {
    ASSERT_TRUE(streams[s]->WaitFor(
        [&](const Logs& logs) {
          return logs.count(kSentinel) && !logs.at(kSentinel).events.empty();
        },
        absl::Seconds(30)))
        << "stream " << s;
    for (uint64_t i = s == 0 ? streams.size() : s; i <= kWatches; i += streams.size()) {
      WatchStream::WatchLog log = streams[s]->Log(i);
      ASSERT_EQ(log.events.size(), 1u) << "watch " << i << " on stream " << s;
      EXPECT_EQ(log.events[0].type(), v1::EVENT_NODE_DATA_CHANGED);
      EXPECT_EQ(log.events[0].revision(), revision);
      ASSERT_TRUE(log.canceled.has_value()) << "watch " << i << " not ended by its one event";
      EXPECT_EQ(log.canceled->cancel_code(), v1::OK);
      ++fired;
    }
  }
  EXPECT_EQ(fired, static_cast<size_t>(kWatches));
  std::printf(
      "%zu one-shot watches over %zu streams fired once each; all seen %.0f ms after "
      "the set was sent\n",
      fired, streams.size(), absl::ToDoubleMilliseconds(absl::Now() - set_at));
}

}  // namespace
}  // namespace synod::e2e
