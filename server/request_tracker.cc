#include "server/request_tracker.h"

#include <sys/random.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log.h"

namespace synod::server {

namespace {

uint64_t RandomStart() {
  uint64_t v = 0;
  size_t got = 0;
  while (got < sizeof(v)) {
    const ssize_t n = getrandom(reinterpret_cast<char*>(&v) + got, sizeof(v) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  return (v >> 1) | 1;  // never 0, and 2^63 ids before wrapping
}

}  // namespace

RequestTracker::RequestTracker(const Limits& limits)
    : limits_(limits), next_id_(RandomStart()), deadline_thread_([this] {
        base::NameThread("synod-deadline");
        DeadlineLoop();
      }) {}

RequestTracker::~RequestTracker() { Stop(); }

uint64_t RequestTracker::Register(absl::Time deadline, Callback callback,
                                  v1::ErrorCode on_timeout_code, Admission admission) {
  Outcome outcome;
  {
    absl::MutexLock lock(&mu_);
    const bool over = !pending_.empty() && (pending_.size() >= limits_.max_requests ||
                                            pending_bytes_ + admission.bytes > limits_.max_bytes);
    if (stopped_) {
      outcome.code = v1::UNAVAILABLE;
      outcome.message = "replica is shutting down";
    } else if (over && !admission.admitted) {
      ++refused_;
      outcome.code = v1::RESOURCE_EXHAUSTED;
      outcome.message = pending_.size() >= limits_.max_requests
                            ? absl::StrCat("replica overloaded: ", pending_.size(),
                                           " requests pending (--max_pending_requests); retry "
                                           "later")
                            : absl::StrCat("replica overloaded: ", pending_bytes_,
                                           " bytes of requests pending (--max_pending_mb); "
                                           "retry later");
    } else {
      const uint64_t id = next_id_++;
      if (next_id_ == 0) next_id_ = 1;
      by_deadline_.insert({deadline, id});
      pending_.emplace(id, Entry{deadline, std::move(callback), on_timeout_code, admission.bytes});
      pending_bytes_ += admission.bytes;
      return id;
    }
  }
  callback(outcome);
  return 0;
}

bool RequestTracker::Complete(uint64_t id, const Outcome& outcome) {
  Callback callback;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return false;
    by_deadline_.erase({it->second.deadline, id});
    callback = std::move(it->second.callback);
    pending_bytes_ -= it->second.bytes;
    pending_.erase(it);
  }
  callback(outcome);
  return true;
}

bool RequestTracker::Pending(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  return pending_.count(id) > 0;
}

void RequestTracker::MarkProposed(const std::vector<uint64_t>& ids) {
  absl::MutexLock lock(&mu_);
  for (uint64_t id : ids) {
    auto it = pending_.find(id);
    if (it != pending_.end()) it->second.proposed = true;
  }
}

size_t RequestTracker::size() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

size_t RequestTracker::bytes() const {
  absl::MutexLock lock(&mu_);
  return pending_bytes_;
}

uint64_t RequestTracker::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

void RequestTracker::DeadlineLoop() {
  while (true) {
    std::vector<std::pair<Callback, v1::ErrorCode>> expired;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      const absl::Time now = absl::Now();
      while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
        const uint64_t id = by_deadline_.begin()->second;
        by_deadline_.erase(by_deadline_.begin());
        auto it = pending_.find(id);
        expired.emplace_back(std::move(it->second.callback), it->second.on_timeout);
        pending_bytes_ -= it->second.bytes;
        pending_.erase(it);
      }
      if (expired.empty()) {
        // Sleep until the earliest deadline, a new earlier one, or Stop.
        const absl::Time wake =
            by_deadline_.empty() ? now + absl::Seconds(1) : by_deadline_.begin()->first;
        const absl::Time first =
            by_deadline_.empty() ? absl::InfiniteFuture() : by_deadline_.begin()->first;
        auto changed = [this, first]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return stopped_ || (!by_deadline_.empty() && by_deadline_.begin()->first < first);
        };
        mu_.AwaitWithDeadline(absl::Condition(&changed), wake);
        continue;
      }
    }
    for (auto& [callback, code] : expired) {
      Outcome outcome;
      outcome.code = code;
      outcome.message = code == v1::DEADLINE_EXCEEDED
                            ? "deadline passed before the request completed; a write may or "
                              "may not have been applied"
                            : "deadline passed";
      callback(outcome);
    }
  }
}

void RequestTracker::Stop() {
  std::map<uint64_t, Entry> pending;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    pending.swap(pending_);
    pending_bytes_ = 0;
    by_deadline_.clear();
  }
  if (deadline_thread_.joinable()) deadline_thread_.join();
  for (auto& [id, entry] : pending) {
    Outcome outcome;
    if (entry.proposed) {
      outcome.code = v1::DEADLINE_EXCEEDED;
      outcome.message =
          "replica is shutting down; this write was proposed and its outcome is unknown";
    } else {
      outcome.code = v1::UNAVAILABLE;
      outcome.message = "replica is shutting down";
    }
    entry.callback(outcome);
  }
}

}  // namespace synod::server
