// The load engine counts what it is told: a counted run issues exactly N
// operations, preload creates every key once, failures are errors and not
// latencies, the mixed workload mixes. A fake connection completes each op
// on its own thread, as the client libraries do.
#include "bench/synod_bench/load_runner.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace synod::bench {
namespace {

// Completes ops in FIFO order on one worker thread; `decide` picks each
// op's outcome. Records every issued (kind, key).
class FakeConnection : public Connection {
 public:
  using Decide = std::function<OpOutcome(OpKind, const std::string&)>;
  explicit FakeConnection(Decide decide) : decide_(std::move(decide)), worker_([this] { Run(); }) {}
  ~FakeConnection() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  void Issue(OpKind kind, const std::string& key, const std::string&, Completion* done) override {
    std::lock_guard<std::mutex> lock(mu_);
    issued_.emplace_back(kind, key);
    queue_.push_back({kind, key, done});
    cv_.notify_all();
  }

  std::vector<std::pair<OpKind, std::string>> issued() {
    std::lock_guard<std::mutex> lock(mu_);
    return issued_;
  }

 private:
  struct Pending {
    OpKind kind;
    std::string key;
    Completion* done;
  };
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      Pending p = queue_.front();
      queue_.pop_front();
      lock.unlock();
      const OpOutcome outcome = decide_(p.kind, p.key);
      p.done->Done(outcome, outcome == OpOutcome::kError ? "fake failure" : "");
      lock.lock();
    }
  }

  Decide decide_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closing_ = false;
  std::deque<Pending> queue_;
  std::vector<std::pair<OpKind, std::string>> issued_;
  std::thread worker_;
};

OpOutcome AlwaysOk(OpKind, const std::string&) { return OpOutcome::kOk; }

std::vector<std::pair<OpKind, std::string>> AllIssued(
    const std::vector<std::unique_ptr<FakeConnection>>& conns) {
  std::vector<std::pair<OpKind, std::string>> all;
  for (const auto& c : conns) {
    auto i = c->issued();
    all.insert(all.end(), i.begin(), i.end());
  }
  return all;
}

RunResult RunOn(const RunOptions& o, const std::vector<std::unique_ptr<FakeConnection>>& conns) {
  std::vector<Connection*> raw;
  for (const auto& c : conns) raw.push_back(c.get());
  return RunLoad(o, raw, WindowHooks());
}

TEST(LoadRunnerTest, CountedRunIssuesExactlyCountOps) {
  std::vector<std::unique_ptr<FakeConnection>> conns;
  for (int i = 0; i < 3; ++i) conns.push_back(std::make_unique<FakeConnection>(AlwaysOk));
  RunOptions o;
  o.workload = Workload::kWrite;
  o.inflight = 4;
  o.count = 1000;
  o.keys = 50;
  RunResult r = RunOn(o, conns);
  EXPECT_EQ(r.ok, 1000u);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.latencies_us.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(r.latencies_us.begin(), r.latencies_us.end()));
  auto issued = AllIssued(conns);
  ASSERT_EQ(issued.size(), 1000u);
  std::set<std::string> keys;
  for (const auto& [kind, key] : issued) {
    EXPECT_EQ(kind, OpKind::kWrite);
    keys.insert(key);
  }
  // Random keys over 50: all of them show up in 1000 draws, nothing else.
  EXPECT_EQ(keys.size(), 50u);
  EXPECT_EQ(*keys.begin(), KeyPath(0));
}

TEST(LoadRunnerTest, PreloadCreatesEveryKeyOnceAndExistingCountsAsDone) {
  std::vector<std::unique_ptr<FakeConnection>> conns;
  for (int i = 0; i < 2; ++i) {
    conns.push_back(std::make_unique<FakeConnection>([](OpKind, const std::string& key) {
      return key.back() == '7' ? OpOutcome::kExists : OpOutcome::kOk;
    }));
  }
  RunOptions o;
  o.workload = Workload::kPreload;
  o.inflight = 8;
  o.keys = 500;
  RunResult r = RunOn(o, conns);
  EXPECT_EQ(r.ok, 500u);
  EXPECT_EQ(r.errors, 0u);
  std::map<std::string, int> seen;
  for (const auto& [kind, key] : AllIssued(conns)) {
    EXPECT_EQ(kind, OpKind::kCreate);
    ++seen[key];
  }
  ASSERT_EQ(seen.size(), 500u);
  for (uint64_t i = 0; i < 500; ++i) EXPECT_EQ(seen[KeyPath(i)], 1) << i;
}

TEST(LoadRunnerTest, FailuresAreErrorsNotLatencies) {
  std::atomic<int> n{0};
  std::vector<std::unique_ptr<FakeConnection>> conns;
  conns.push_back(std::make_unique<FakeConnection>([&](OpKind, const std::string&) {
    return n.fetch_add(1) % 4 == 0 ? OpOutcome::kError : OpOutcome::kOk;
  }));
  RunOptions o;
  o.workload = Workload::kReadSerializable;
  o.inflight = 1;
  o.count = 200;
  RunResult r = RunOn(o, conns);
  EXPECT_EQ(r.ok + r.errors, 200u);
  EXPECT_EQ(r.errors, 50u);
  EXPECT_EQ(r.latencies_us.size(), r.ok);
  ASSERT_FALSE(r.first_errors.empty());
  EXPECT_EQ(r.first_errors[0], "fake failure");
}

TEST(LoadRunnerTest, CreateNeverRepeatsAKey) {
  std::vector<std::unique_ptr<FakeConnection>> conns;
  for (int i = 0; i < 4; ++i) conns.push_back(std::make_unique<FakeConnection>(AlwaysOk));
  RunOptions o;
  o.workload = Workload::kCreate;
  o.inflight = 3;
  o.count = 600;
  RunResult r = RunOn(o, conns);
  EXPECT_EQ(r.ok, 600u);
  std::set<std::string> keys;
  for (const auto& [kind, key] : AllIssued(conns)) {
    EXPECT_EQ(kind, OpKind::kCreate);
    EXPECT_THAT(key, ::testing::StartsWith("/bench/c"));
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), 600u);
}

TEST(LoadRunnerTest, MixedSendsTheAskedShareOfWrites) {
  std::vector<std::unique_ptr<FakeConnection>> conns;
  conns.push_back(std::make_unique<FakeConnection>(AlwaysOk));
  RunOptions o;
  o.workload = Workload::kMixed;
  o.inflight = 2;
  o.count = 4000;
  o.mixed_write_percent = 10;
  o.mixed_read = OpKind::kReadSerializable;
  RunOn(o, conns);
  int writes = 0, reads = 0;
  for (const auto& [kind, key] : AllIssued(conns)) {
    if (kind == OpKind::kWrite) ++writes;
    if (kind == OpKind::kReadSerializable) ++reads;
  }
  EXPECT_EQ(writes + reads, 4000);
  // 10 % of 4000 is 400 (standard deviation 19): far from 0 % or 50 %.
  EXPECT_GT(writes, 300);
  EXPECT_LT(writes, 500);
}

TEST(LoadRunnerTest, TimedRunMeasuresOnlyItsWindowAndStops) {
  std::vector<std::unique_ptr<FakeConnection>> conns;
  conns.push_back(std::make_unique<FakeConnection>(AlwaysOk));
  RunOptions o;
  o.workload = Workload::kWrite;
  o.inflight = 2;
  o.duration_s = 0.2;
  o.warmup_s = 0.1;
  int begins = 0, ends = 0;
  WindowHooks hooks;
  hooks.begin = [&] { ++begins; };
  hooks.end = [&] { ++ends; };
  RunResult r = RunLoad(o, {conns[0].get()}, hooks);
  EXPECT_EQ(begins, 1);
  EXPECT_EQ(ends, 1);
  EXPECT_GT(r.ok, 0u);
  EXPECT_GE(r.seconds, 0.2);
  // Warm-up ops were issued but not measured.
  EXPECT_GT(conns[0]->issued().size(), r.ok);
}

TEST(LoadRunnerTest, ProgressTellsEachPhaseAndCountsWhatIsDone) {
  std::vector<std::unique_ptr<FakeConnection>> conns;
  for (int i = 0; i < 2; ++i) conns.push_back(std::make_unique<FakeConnection>(AlwaysOk));
  RunOptions o;
  o.workload = Workload::kPreload;
  o.inflight = 4;
  o.keys = 3000;
  std::vector<std::pair<std::string, uint64_t>> phases;
  std::vector<ProgressTick> ticks;
  ProgressHooks progress;
  progress.phase = [&](const std::string& p, double, uint64_t total) {
    phases.emplace_back(p, total);
  };
  progress.tick = [&](const ProgressTick& t) { ticks.push_back(t); };
  progress.interval_s = 0.1;
  std::vector<Connection*> raw;
  for (const auto& c : conns) raw.push_back(c.get());
  RunResult r = RunLoad(o, raw, WindowHooks(), progress);
  EXPECT_EQ(r.ok, 3000u);
  ASSERT_EQ(phases.size(), 2u);
  EXPECT_EQ(phases[0], std::make_pair(std::string("preload"), uint64_t{3000}));
  EXPECT_EQ(phases[1], std::make_pair(std::string("done"), uint64_t{3000}));
  // Ticks (as many as the run's length allows) count up to the total.
  uint64_t last = 0;
  for (const ProgressTick& t : ticks) {
    EXPECT_EQ(t.phase, "preload");
    EXPECT_EQ(t.total, 3000u);
    EXPECT_GE(t.done, last);
    EXPECT_LE(t.done, 3000u);
    last = t.done;
  }
}

TEST(LoadRunnerTest, TimedRunTellsWarmUpThenMeasuring) {
  std::vector<std::unique_ptr<FakeConnection>> conns;
  conns.push_back(std::make_unique<FakeConnection>(AlwaysOk));
  RunOptions o;
  o.workload = Workload::kWrite;
  o.inflight = 2;
  o.duration_s = 0.3;
  o.warmup_s = 0.1;
  std::vector<std::string> phases;
  std::vector<ProgressTick> ticks;
  ProgressHooks progress;
  progress.phase = [&](const std::string& p, double, uint64_t) { phases.push_back(p); };
  progress.tick = [&](const ProgressTick& t) { ticks.push_back(t); };
  progress.interval_s = 0.1;
  RunLoad(o, {conns[0].get()}, WindowHooks(), progress);
  EXPECT_THAT(phases, ::testing::ElementsAre("warm-up", "measuring", "done"));
  for (const ProgressTick& t : ticks) {
    EXPECT_EQ(t.total, 0u);
    EXPECT_LE(t.elapsed_s, t.total_s);
  }
}

TEST(ProgressLineTest, CountedSaysDoneOfTotalRateAndTimeLeft) {
  ProgressTick t;
  t.phase = "preload";
  t.elapsed_s = 100;
  t.done = 250000;
  t.total = 1000000;
  t.rate = 2600;
  // 2,500 ops/s on average: 750,000 left take 300 s.
  EXPECT_EQ(ProgressLine(t), "preload 250000/1000000 (25%), 2600 ops/s, 5m00s left");
}

TEST(ProgressLineTest, TimedSaysSecondsOfTotalAndTimeLeft) {
  ProgressTick t;
  t.phase = "measuring";
  t.elapsed_s = 6;
  t.total_s = 10;
  t.done = 120000;
  t.rate = 20000;
  EXPECT_EQ(ProgressLine(t), "measuring 6/10 s, 120000 ops, 20000 ops/s, 4s left");
}

TEST(ProgressLineTest, HumanSeconds) {
  EXPECT_EQ(HumanSeconds(4.4), "4s");
  EXPECT_EQ(HumanSeconds(1302), "21m42s");
  EXPECT_EQ(HumanSeconds(3725), "1h02m");
  EXPECT_EQ(HumanSeconds(-3), "0s");
}

TEST(LoadRunnerTest, PercentileIsNearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 1000; ++i) v.push_back(i);
  EXPECT_EQ(Percentile(v, 0.5), 500);
  EXPECT_EQ(Percentile(v, 0.99), 990);
  EXPECT_EQ(Percentile(v, 0.999), 999);
  EXPECT_EQ(Percentile(v, 1.0), 1000);
  EXPECT_EQ(Percentile({}, 0.5), 0);
  EXPECT_EQ(Percentile({7}, 0.999), 7);
}

TEST(LoadRunnerTest, ParseWorkloadKnowsTheNames) {
  EXPECT_EQ(*ParseWorkload("read_linearizable"), Workload::kReadLinearizable);
  EXPECT_EQ(*ParseWorkload("preload"), Workload::kPreload);
  EXPECT_FALSE(ParseWorkload("reads").ok());
}

}  // namespace
}  // namespace synod::bench
