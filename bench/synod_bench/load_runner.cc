#include "bench/synod_bench/load_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"

namespace synod::bench {
namespace {

using Clock = std::chrono::steady_clock;

// A slot that fails this many times in a row gives up (a dead connection);
// until then it retries with a short pause, so an election does not end it.
constexpr int kMaxConsecutiveErrors = 1000;

struct Shared {
  const RunOptions* options;
  std::atomic<bool> stop{false};
  std::atomic<bool> measuring{false};
  std::atomic<uint64_t> next_seq{0};  // create/preload keys; counted-run tickets
  std::atomic<uint64_t> create_seq{0};
  std::atomic<uint64_t> completed{0};  // every op told done, for progress
  std::string create_prefix;           // unique per run, so creates never collide
  std::string churn_prefix;            // the same, for session_churn's ephemerals

  std::mutex mu;
  std::condition_variable idle_cv;
  int active = 0;  // slots with an op out or about to issue one
  Clock::time_point last_done;
  std::vector<std::string> first_errors;

  void NoteError(std::string_view error) {
    std::lock_guard<std::mutex> lock(mu);
    if (first_errors.size() < 5) first_errors.emplace_back(error);
  }
  void SlotIdle() {
    std::lock_guard<std::mutex> lock(mu);
    last_done = Clock::now();
    if (--active == 0) idle_cv.notify_all();
  }
};

class Slot : public Completion {
 public:
  Slot(Shared* shared, Connection* conn, uint64_t seed)
      : shared_(shared), conn_(conn), rng_(seed) {}

  void Next() {
    const RunOptions& o = *shared_->options;
    if (shared_->stop.load(std::memory_order_relaxed)) return shared_->SlotIdle();
    if (o.count > 0 || o.workload == Workload::kPreload) {
      const uint64_t ticket = shared_->next_seq.fetch_add(1);
      const uint64_t limit = o.workload == Workload::kPreload ? o.keys : o.count;
      if (ticket >= limit) return shared_->SlotIdle();
      if (o.workload == Workload::kPreload) {
        kind_ = OpKind::kCreate;
        key_ = KeyPath(ticket);
        return Send();
      }
    }
    switch (o.workload) {
      case Workload::kWrite:
        kind_ = OpKind::kWrite;
        break;
      case Workload::kReadLinearizable:
        kind_ = OpKind::kReadLinearizable;
        break;
      case Workload::kReadSerializable:
        kind_ = OpKind::kReadSerializable;
        break;
      case Workload::kMixed:
        kind_ =
            static_cast<int>(rng_() % 100) < o.mixed_write_percent ? OpKind::kWrite : o.mixed_read;
        break;
      case Workload::kCreate:
      case Workload::kPreload:
        kind_ = OpKind::kCreate;
        key_ = absl::StrCat(shared_->create_prefix, shared_->create_seq.fetch_add(1));
        return Send();
      case Workload::kSessionChurn:
        kind_ = OpKind::kCreate;
        key_ = absl::StrCat(shared_->churn_prefix, shared_->create_seq.fetch_add(1));
        return Send();
      case Workload::kWatchFanout:
        // RunFanout's job; a caller that gets here anyway gets sets.
        kind_ = OpKind::kWrite;
        break;
    }
    key_ = KeyPath(rng_() % o.keys);
    Send();
  }

  void Done(OpOutcome outcome, absl::string_view error) override {
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - start_).count();
    shared_->completed.fetch_add(1, std::memory_order_relaxed);
    const bool ok = outcome == OpOutcome::kOk || (outcome == OpOutcome::kExists &&
                                                  shared_->options->workload == Workload::kPreload);
    if (shared_->measuring.load(std::memory_order_relaxed)) {
      if (ok) {
        ++ok_;
        latencies_.push_back(us);
      } else {
        ++errors_;
      }
    }
    if (ok) {
      consecutive_errors_ = 0;
    } else {
      shared_->NoteError(std::string_view(error.data(), error.size()));
      if (++consecutive_errors_ >= kMaxConsecutiveErrors) return shared_->SlotIdle();
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(consecutive_errors_, 10)));
    }
    Next();
  }

  uint64_t ok() const { return ok_; }
  uint64_t errors() const { return errors_; }
  std::vector<double>& latencies() { return latencies_; }

 private:
  void Send() {
    start_ = Clock::now();
    conn_->Issue(kind_, key_, shared_->options->value, this);
  }

  Shared* const shared_;
  Connection* const conn_;
  std::mt19937_64 rng_;
  // The op in flight (one at a time): its kind, key and start time.
  OpKind kind_ = OpKind::kWrite;
  std::string key_;
  Clock::time_point start_;
  int consecutive_errors_ = 0;
  uint64_t ok_ = 0;
  uint64_t errors_ = 0;
  std::vector<double> latencies_;
};

}  // namespace

absl::StatusOr<Workload> ParseWorkload(const std::string& name) {
  if (name == "write") return Workload::kWrite;
  if (name == "read_linearizable") return Workload::kReadLinearizable;
  if (name == "read_serializable") return Workload::kReadSerializable;
  if (name == "mixed") return Workload::kMixed;
  if (name == "create") return Workload::kCreate;
  if (name == "preload") return Workload::kPreload;
  if (name == "watch_fanout") return Workload::kWatchFanout;
  if (name == "session_churn") return Workload::kSessionChurn;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown workload '", name,
      "' (write, read_linearizable, read_serializable, mixed, create, preload, watch_fanout, "
      "session_churn)"));
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

RunResult RunLoad(const RunOptions& options, const std::vector<Connection*>& connections,
                  const WindowHooks& hooks, const ProgressHooks& progress) {
  Shared shared;
  shared.options = &options;
  std::mt19937_64 rng(options.seed);
  // Wall-clock time in the prefix: creates of later runs on the same data
  // never collide with earlier ones.
  const auto run_id = std::chrono::system_clock::now().time_since_epoch().count() % 1000000000000;
  shared.create_prefix = absl::StrCat("/bench/c", run_id, "-");
  shared.churn_prefix = absl::StrCat(kChurnParent, "/", run_id, "-");
  std::vector<std::unique_ptr<Slot>> slots;
  for (Connection* c : connections) {
    for (int i = 0; i < options.inflight; ++i) {
      slots.push_back(std::make_unique<Slot>(&shared, c, rng()));
    }
  }
  shared.active = static_cast<int>(slots.size());
  const bool counted = options.count > 0 || options.workload == Workload::kPreload;
  const auto interval = std::chrono::duration<double>(std::max(0.1, progress.interval_s));

  // Ticks of one phase: what completed since it began, the rate since the
  // previous tick.
  struct PhaseClock {
    std::string name;
    Clock::time_point start, last;
    uint64_t done0 = 0, last_done = 0;
    double total_s = 0;
    uint64_t total = 0;
  };
  auto begin_phase = [&](const std::string& name, double seconds, uint64_t total) {
    PhaseClock p;
    p.name = name;
    p.start = p.last = Clock::now();
    p.done0 = p.last_done = shared.completed.load(std::memory_order_relaxed);
    p.total_s = seconds;
    p.total = total;
    progress.phase(name, seconds, total);
    return p;
  };
  auto tick = [&](PhaseClock& p) {
    const Clock::time_point now = Clock::now();
    const uint64_t done = shared.completed.load(std::memory_order_relaxed);
    ProgressTick t;
    t.phase = p.name;
    t.elapsed_s = std::chrono::duration<double>(now - p.start).count();
    t.total_s = p.total_s;
    t.done = done - p.done0;
    t.total = p.total;
    const double dt = std::chrono::duration<double>(now - p.last).count();
    t.rate = dt > 0 ? static_cast<double>(done - p.last_done) / dt : 0;
    p.last = now;
    p.last_done = done;
    progress.tick(t);
  };
  // Sleeps through a timed phase, ticking.
  auto timed_phase = [&](const std::string& name, double seconds) {
    PhaseClock p = begin_phase(name, seconds, 0);
    const Clock::time_point end = p.start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(seconds));
    while (true) {
      const Clock::time_point next =
          std::min(end, p.last + std::chrono::duration_cast<Clock::duration>(interval));
      std::this_thread::sleep_until(next);
      if (next >= end) return;
      tick(p);
    }
  };

  RunResult result;
  Clock::time_point begin;
  PhaseClock counted_phase;
  if (counted) {
    const uint64_t total = options.workload == Workload::kPreload ? options.keys : options.count;
    counted_phase =
        begin_phase(options.workload == Workload::kPreload ? "preload" : "counted", 0, total);
    shared.measuring = true;
    hooks.begin();
    begin = Clock::now();
  }
  for (auto& s : slots) s->Next();
  if (!counted) {
    timed_phase("warm-up", options.warmup_s);
    hooks.begin();
    begin = Clock::now();
    shared.measuring = true;
    timed_phase("measuring", options.duration_s);
    shared.measuring = false;
    result.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    hooks.end();
    shared.stop = true;
  }
  {
    std::unique_lock<std::mutex> lock(shared.mu);
    // Every op has a deadline (gRPC) or a session timeout (ZooKeeper); a
    // minute past that nothing more will come.
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(counted ? 3600 : 60);
    while (shared.active != 0) {
      const Clock::time_point next =
          std::min(give_up, Clock::now() + std::chrono::duration_cast<Clock::duration>(interval));
      if (shared.idle_cv.wait_until(lock, next, [&] { return shared.active == 0; })) break;
      if (Clock::now() >= give_up) {
        std::fprintf(stderr, "synod-bench: %d slots still busy; exiting without them\n",
                     shared.active);
        std::fflush(stderr);
        std::_Exit(3);
      }
      if (counted) {
        lock.unlock();
        tick(counted_phase);
        lock.lock();
      }
    }
    if (counted) {
      result.seconds = std::chrono::duration<double>(shared.last_done - begin).count();
    }
    result.first_errors = shared.first_errors;
  }
  if (counted) hooks.end();
  for (auto& s : slots) {
    result.ok += s->ok();
    result.errors += s->errors();
    result.latencies_us.insert(result.latencies_us.end(), s->latencies().begin(),
                               s->latencies().end());
  }
  std::sort(result.latencies_us.begin(), result.latencies_us.end());
  progress.phase("done", result.seconds, result.ok + result.errors);
  return result;
}

}  // namespace synod::bench
