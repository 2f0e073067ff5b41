#include "client/src/executor.h"

#include <algorithm>

namespace synod::client {

SerialExecutor::SerialExecutor() : thread_([this] { Run(); }) {}

SerialExecutor::~SerialExecutor() { Stop(); }

void SerialExecutor::PushReadyLocked(Task task) {
  ready_.push_back(std::move(task));
  max_queued_ = std::max(max_queued_, ready_.size());
}

void SerialExecutor::Post(Task task) {
  absl::MutexLock lock(&mu_);
  if (stopping_ && !InExecutorThread()) return;
  PushReadyLocked(std::move(task));
}

void SerialExecutor::WhenBelow(size_t n, Task task) {
  absl::MutexLock lock(&mu_);
  if (stopping_ && !InExecutorThread()) return;
  if (ready_.size() < n) {
    PushReadyLocked(std::move(task));
  } else {
    below_.emplace_back(n, std::move(task));
  }
}

size_t SerialExecutor::queued() const {
  absl::MutexLock lock(&mu_);
  return ready_.size();
}

size_t SerialExecutor::max_queued() const {
  absl::MutexLock lock(&mu_);
  return max_queued_;
}

void SerialExecutor::ReleaseBelowLocked() {
  for (auto it = below_.begin(); it != below_.end();) {
    if (ready_.size() < it->first) {
      PushReadyLocked(std::move(it->second));
      it = below_.erase(it);
    } else {
      ++it;
    }
  }
}

SerialExecutor::TimerId SerialExecutor::PostAt(absl::Time when, Task task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return 0;
  const TimerId id = next_timer_++;
  timers_.emplace(std::make_pair(when, id), std::move(task));
  timer_due_.emplace(id, when);
  return id;
}

bool SerialExecutor::Cancel(TimerId id) {
  absl::MutexLock lock(&mu_);
  auto it = timer_due_.find(id);
  if (it == timer_due_.end()) return false;
  timers_.erase(std::make_pair(it->second, id));
  timer_due_.erase(it);
  return true;
}

void SerialExecutor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool SerialExecutor::InExecutorThread() const {
  return std::this_thread::get_id() == thread_.get_id();
}

void SerialExecutor::Run() {
  for (;;) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        if (!ready_.empty()) {
          task = std::move(ready_.front());
          ready_.pop_front();
          if (!below_.empty()) ReleaseBelowLocked();
          break;
        }
        if (stopping_) {
          timers_.clear();
          timer_due_.clear();
          return;
        }
        if (!timers_.empty() && timers_.begin()->first.first <= absl::Now()) {
          auto it = timers_.begin();
          task = std::move(it->second);
          timer_due_.erase(it->first.second);
          timers_.erase(it);
          break;
        }
        // Wake for a new task, for Stop, at the earliest timer, or when a
        // timer earlier than that one is posted.
        const absl::Time wake =
            timers_.empty() ? absl::InfiniteFuture() : timers_.begin()->first.first;
        auto woken = [this, wake]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return !ready_.empty() || stopping_ ||
                 (!timers_.empty() && timers_.begin()->first.first < wake);
        };
        mu_.AwaitWithDeadline(absl::Condition(&woken), wake);
      }
    }
    task();
  }
}

}  // namespace synod::client
