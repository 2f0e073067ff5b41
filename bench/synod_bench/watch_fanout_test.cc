// The fan-out bookkeeping: receipts are matched to the write in flight,
// duplicates and strays are counted apart, a one-shot watcher is waited for
// until it is armed again, lost watchers are not waited for; and RunFanout
// sends exactly the asked writes and spreads the watchers over connections.
#include "bench/synod_bench/watch_fanout.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace synod::bench {
namespace {

using Clock = FanoutTracker::Clock;
using std::chrono::milliseconds;

Clock::time_point At(int ms) { return Clock::time_point() + milliseconds(ms); }

// Already past: WaitAllDone answers from the current state without waiting.
Clock::time_point Now() { return Clock::now() - milliseconds(1); }

TEST(FanoutTrackerTest, ReadyOnlyOnceEveryWatcherIsArmed) {
  FanoutTracker t(3);
  EXPECT_FALSE(t.WaitAllDone(Now()));
  t.Armed(0);
  t.Armed(1);
  EXPECT_FALSE(t.WaitAllDone(Now()));
  t.Armed(2);
  EXPECT_TRUE(t.WaitAllDone(Now()));
}

TEST(FanoutTrackerTest, LatencyIsFromTheWritesSend) {
  FanoutTracker t(2);
  t.Armed(0);
  t.Armed(1);
  t.BeginWrite(At(1000));
  EXPECT_FALSE(t.WaitAllDone(Now()));
  t.Event(0, At(1003), true);
  EXPECT_FALSE(t.WaitAllDone(Now()));
  t.Event(1, At(1010), true);
  EXPECT_TRUE(t.WaitAllDone(Now()));
  t.BeginWrite(At(2000));
  t.Event(1, At(2001), true);
  t.Event(0, At(2002), true);
  FanoutTracker::Totals s = t.Snapshot();
  EXPECT_EQ(s.writes, 2u);
  EXPECT_EQ(s.received, 4u);
  EXPECT_EQ(s.unexpected, 0u);
  EXPECT_THAT(s.latencies_us, ::testing::ElementsAre(1000, 2000, 3000, 10000));
}

TEST(FanoutTrackerTest, DuplicatesAndStraysAreUnexpected) {
  FanoutTracker t(1);
  t.Armed(0);
  t.Event(0, At(5), true);  // before any write
  t.BeginWrite(At(10));
  t.Event(0, At(11), true);
  t.Event(0, At(12), true);  // a second receipt of the same write
  FanoutTracker::Totals s = t.Snapshot();
  EXPECT_EQ(s.received, 1u);
  EXPECT_EQ(s.unexpected, 2u);
  EXPECT_EQ(s.latencies_us.size(), 1u);
}

TEST(FanoutTrackerTest, UnknownIdsAreUnexpectedNotFatal) {
  FanoutTracker t(1);
  t.Armed(-1);
  t.Armed(1);
  t.Lost(7, "canceled");
  t.Armed(0);
  t.BeginWrite(At(0));
  t.Event(1, At(1), true);
  EXPECT_FALSE(t.WaitAllDone(Now()));
  FanoutTracker::Totals s = t.Snapshot();
  EXPECT_EQ(s.unexpected, 4u);
  EXPECT_EQ(s.received, 0u);
  EXPECT_EQ(s.lost, 0);
}

TEST(FanoutTrackerTest, OneShotWatcherIsDoneOnlyWhenArmedAgain) {
  FanoutTracker t(1);
  t.Armed(0);
  t.BeginWrite(At(0));
  t.Event(0, At(1), false);
  EXPECT_FALSE(t.WaitAllDone(Now()));
  t.Armed(0);
  EXPECT_TRUE(t.WaitAllDone(Now()));
  // The next write needs a new event, not just the re-arm.
  t.BeginWrite(At(10));
  EXPECT_FALSE(t.WaitAllDone(Now()));
}

TEST(FanoutTrackerTest, LostWatchersAreNotWaitedForButCounted) {
  FanoutTracker t(2);
  t.Armed(0);
  t.Lost(1, "stream ended");
  t.Lost(1, "stream ended");  // told twice, counted once
  EXPECT_TRUE(t.WaitAllDone(Now()));
  t.BeginWrite(At(0));
  t.Event(0, At(2), true);
  EXPECT_TRUE(t.WaitAllDone(Now()));
  FanoutTracker::Totals s = t.Snapshot();
  EXPECT_EQ(s.lost, 1);
  EXPECT_EQ(s.received, 1u);
  ASSERT_EQ(s.first_errors.size(), 1u);
  EXPECT_THAT(s.first_errors[0], ::testing::HasSubstr("stream ended"));
}

TEST(FanoutTrackerTest, WaitWakesWhenTheLastEventArrives) {
  FanoutTracker t(1);
  t.Armed(0);
  t.BeginWrite(Clock::now());
  std::thread late([&] { t.Event(0, Clock::now(), true); });
  EXPECT_TRUE(t.WaitAllDone(Clock::now() + std::chrono::seconds(60)));
  late.join();
}

// A fake system: each Watch registers its watchers; every write to the
// watched key is delivered to all of them from another thread, as one-shot
// (re-armed after) or persistent watches.
class FakeSystem : public Driver {
 public:
  explicit FakeSystem(bool one_shot) : one_shot_(one_shot) {}

  absl::Status Prepare(const std::string&) override { return absl::OkStatus(); }
  absl::StatusOr<std::string> FindLeader(const std::vector<std::string>& e) override {
    return e[0];
  }
  absl::StatusOr<std::unique_ptr<Connection>> Connect(const std::string&, int) override {
    return absl::UnimplementedError("not here");
  }
  absl::StatusOr<std::unique_ptr<Watchers>> Watch(const std::string& endpoint, int index,
                                                  const std::string& key,
                                                  const std::vector<int>& ids,
                                                  WatchSink* sink) override {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(key, kWatchKey);
    for (int id : ids) {
      sinks_.push_back({id, sink});
      by_endpoint_[endpoint].push_back(id);
      sink->Armed(id);
    }
    indexes_.push_back(index);
    return std::make_unique<Watchers>();
  }
  absl::StatusOr<std::unique_ptr<SessionClient>> NewSessionClient(const std::string&,
                                                                  int) override {
    return absl::UnimplementedError("not here");
  }
  absl::StatusOr<int64_t> CountChildren(const std::string&, const std::string&) override {
    return 0;
  }

  // The writer: every set fans out on a new thread, then completes.
  class Writer : public Connection {
   public:
    explicit Writer(FakeSystem* sys) : sys_(sys) {}
    ~Writer() override {
      for (std::thread& t : threads_) t.join();
    }
    void Issue(OpKind kind, const std::string& key, const std::string&,
               Completion* done) override {
      EXPECT_EQ(kind, OpKind::kWrite);
      EXPECT_EQ(key, kWatchKey);
      ++sets;
      threads_.emplace_back([this, done] {
        std::vector<std::pair<int, WatchSink*>> sinks;
        {
          std::lock_guard<std::mutex> lock(sys_->mu_);
          sinks = sys_->sinks_;
        }
        for (auto [id, sink] : sinks) {
          sink->Event(id, Clock::now(), !sys_->one_shot_);
          if (sys_->one_shot_) sink->Armed(id);
        }
        done->Done(OpOutcome::kOk, "");
      });
    }
    std::atomic<int> sets{0};

   private:
    FakeSystem* sys_;
    std::vector<std::thread> threads_;
  };

  std::map<std::string, std::vector<int>> by_endpoint() {
    std::lock_guard<std::mutex> lock(mu_);
    return by_endpoint_;
  }
  std::vector<int> indexes() {
    std::lock_guard<std::mutex> lock(mu_);
    return indexes_;
  }

 private:
  const bool one_shot_;
  std::mutex mu_;
  std::vector<std::pair<int, WatchSink*>> sinks_;
  std::map<std::string, std::vector<int>> by_endpoint_;
  std::vector<int> indexes_;
};

TEST(RunFanoutTest, EveryWatcherGetsEveryWrite) {
  for (bool one_shot : {false, true}) {
    FakeSystem sys(one_shot);
    FakeSystem::Writer writer(&sys);
    FanoutOptions o;
    o.watchers = 10;
    o.connections = 4;
    o.writes = 25;
    FanoutResult r = RunFanout(o, &sys, {"a", "b", "c"}, &writer, WindowHooks());
    EXPECT_EQ(r.setup_error, "");
    EXPECT_EQ(writer.sets.load(), 25);
    EXPECT_EQ(r.totals.writes, 25u);
    EXPECT_EQ(r.expected, 250u);
    EXPECT_EQ(r.totals.received, 250u) << "one_shot " << one_shot;
    EXPECT_EQ(r.totals.unexpected, 0u);
    EXPECT_EQ(r.incomplete_writes, 0u);
    EXPECT_EQ(r.totals.latencies_us.size(), 250u);
    EXPECT_EQ(r.ack_us.size(), 25u);
    // Watchers 0..9 over 4 connections, connection c at endpoint c mod 3:
    // connections 0 and 3 at "a" (watchers 0,4,8 and 3,7).
    auto by = sys.by_endpoint();
    EXPECT_THAT(by["a"], ::testing::UnorderedElementsAre(0, 4, 8, 3, 7));
    EXPECT_THAT(by["b"], ::testing::UnorderedElementsAre(1, 5, 9));
    EXPECT_THAT(by["c"], ::testing::UnorderedElementsAre(2, 6));
    EXPECT_THAT(sys.indexes(), ::testing::ElementsAre(0, 1, 2, 3));
  }
}

}  // namespace
}  // namespace synod::bench
