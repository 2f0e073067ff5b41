#include "bench/synod_bench/watch_fanout.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"

namespace synod::bench {

FanoutTracker::FanoutTracker(int watchers) : watchers_(static_cast<size_t>(watchers)) {}

void FanoutTracker::UpdateLocked(const Watcher& w, bool was_done) {
  const bool now_done = DoneLocked(w);
  if (now_done != was_done) done_ += now_done ? 1 : -1;
  if (done_ == static_cast<int>(watchers_.size())) cv_.notify_all();
}

void FanoutTracker::NoteErrorLocked(absl::string_view error) {
  if (totals_.first_errors.size() < 5) totals_.first_errors.emplace_back(error);
}

bool FanoutTracker::KnownLocked(int id) {
  if (id >= 0 && id < static_cast<int>(watchers_.size())) return true;
  ++totals_.unexpected;
  NoteErrorLocked(absl::StrCat("reply for unknown watcher ", id));
  return false;
}

void FanoutTracker::Armed(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!KnownLocked(id)) return;
  Watcher& w = watchers_[static_cast<size_t>(id)];
  const bool was_done = DoneLocked(w);
  w.armed = true;
  UpdateLocked(w, was_done);
}

void FanoutTracker::Event(int id, Clock::time_point received, bool still_armed) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!KnownLocked(id)) return;
  Watcher& w = watchers_[static_cast<size_t>(id)];
  const bool was_done = DoneLocked(w);
  if (write_ == 0 || w.last_write == write_) {
    ++totals_.unexpected;
  } else {
    w.last_write = write_;
    ++totals_.received;
    totals_.latencies_us.push_back(
        std::chrono::duration<double, std::micro>(received - sent_).count());
  }
  w.armed = still_armed;
  UpdateLocked(w, was_done);
}

void FanoutTracker::Lost(int id, absl::string_view error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!KnownLocked(id)) return;
  Watcher& w = watchers_[static_cast<size_t>(id)];
  if (w.lost) return;
  const bool was_done = DoneLocked(w);
  w.lost = true;
  ++totals_.lost;
  NoteErrorLocked(absl::StrCat("watcher ", id, ": ", error));
  UpdateLocked(w, was_done);
}

void FanoutTracker::BeginWrite(Clock::time_point sent) {
  std::lock_guard<std::mutex> lock(mu_);
  ++write_;
  ++totals_.writes;
  sent_ = sent;
  done_ = 0;
  for (const Watcher& w : watchers_) done_ += DoneLocked(w) ? 1 : 0;
}

bool FanoutTracker::WaitAllDone(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, deadline,
                        [&] { return done_ == static_cast<int>(watchers_.size()); });
}

FanoutTracker::Totals FanoutTracker::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  Totals t = totals_;
  std::sort(t.latencies_us.begin(), t.latencies_us.end());
  return t;
}

namespace {

constexpr uint64_t kMaxIncompleteWrites = 3;

// The writer's one set at a time: Done wakes Wait.
class Ack : public Completion {
 public:
  void Done(OpOutcome outcome, absl::string_view error) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    ok_ = outcome == OpOutcome::kOk;
    error_ = std::string(error);
    cv_.notify_all();
  }
  // Waits for Done (every op has a deadline or a session timeout, so it
  // comes); returns whether the set succeeded, and readies the next.
  bool Wait(std::string* error) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    done_ = false;
    *error = error_;
    return ok_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool ok_ = false;
  std::string error_;
};

}  // namespace

FanoutResult RunFanout(const FanoutOptions& options, Driver* driver,
                       const std::vector<std::string>& watch_endpoints, Connection* writer,
                       const WindowHooks& hooks) {
  using Clock = FanoutTracker::Clock;
  FanoutResult result;
  const int nconn = std::max(1, std::min(options.connections, options.watchers));
  std::vector<std::vector<int>> ids(static_cast<size_t>(nconn));
  for (int i = 0; i < options.watchers; ++i) ids[static_cast<size_t>(i % nconn)].push_back(i);

  FanoutTracker tracker(options.watchers);
  // Declared after the tracker: destroyed first, so no sink call outlives it.
  std::vector<std::unique_ptr<Watchers>> watchers;
  for (int c = 0; c < nconn; ++c) {
    const std::string& endpoint = watch_endpoints[static_cast<size_t>(c) % watch_endpoints.size()];
    absl::StatusOr<std::unique_ptr<Watchers>> w =
        driver->Watch(endpoint, c, kWatchKey, ids[static_cast<size_t>(c)], &tracker);
    if (!w.ok()) {
      result.setup_error = absl::StrCat("watch at ", endpoint, ": ", w.status().message());
      return result;
    }
    watchers.push_back(*std::move(w));
  }
  // Set-up may register thousands of watches: give it the timeout per 1,000.
  const auto setup_wait =
      std::chrono::milliseconds(options.timeout_ms) * std::max(1, options.watchers / 1000);
  if (!tracker.WaitAllDone(Clock::now() + setup_wait)) {
    result.setup_error = "watches not all registered in time";
    result.totals = tracker.Snapshot();
    return result;
  }

  Ack ack;
  const std::string key = kWatchKey;  // Issue needs it alive until the set completes
  std::vector<std::string> set_errors;
  hooks.begin();
  const Clock::time_point start = Clock::now();
  for (uint64_t n = 0; n < options.writes; ++n) {
    const Clock::time_point sent = Clock::now();
    tracker.BeginWrite(sent);
    writer->Issue(OpKind::kWrite, key, options.value, &ack);
    std::string error;
    const bool ok = ack.Wait(&error);
    result.ack_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
    if (!ok) {
      ++result.write_errors;
      if (set_errors.size() < 5) set_errors.push_back("set: " + error);
    }
    // A failed set may still have been applied: its events are waited for
    // as well, so they cannot be taken for the next write's.
    if (!tracker.WaitAllDone(Clock::now() + std::chrono::milliseconds(options.timeout_ms))) {
      // A watcher that missed an event (or a re-arm) may never catch up:
      // after a few such writes the rest would only wait out timeouts.
      if (++result.incomplete_writes >= kMaxIncompleteWrites) break;
    }
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  hooks.end();
  watchers.clear();
  result.totals = tracker.Snapshot();
  result.totals.first_errors.insert(result.totals.first_errors.begin(), set_errors.begin(),
                                    set_errors.end());
  result.expected = static_cast<uint64_t>(options.watchers) * result.totals.writes;
  std::sort(result.ack_us.begin(), result.ack_us.end());
  return result;
}

}  // namespace synod::bench
