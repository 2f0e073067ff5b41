// SerialExecutor: one thread that runs posted tasks in order, and timers.
//
// The client has two: the internal event loop (stream state machines,
// retry timers; its tasks never block) and the callback thread (user
// callbacks, which may block, so they must not share a thread with the
// timers that complete blocking calls).
//
// Bounded by its producers: WhenBelow lets one that could outrun the
// executor (a watch stream delivering events to slow user callbacks) wait
// for it without blocking a thread, so the queue stays near the bound the
// producer chose instead of growing with the backlog.
//
// Thread-safety: Post / PostAt / Cancel / WhenBelow from any thread. Tasks
// run one at a time on the executor's thread, immediate tasks in posting
// order.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace synod::client {

class SerialExecutor {
 public:
  using Task = std::function<void()>;
  using TimerId = uint64_t;  // 0 is never a valid id

  SerialExecutor();
  ~SerialExecutor();  // Stop()
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // Runs `task` soon. After Stop() the task is dropped.
  void Post(Task task);
  // Runs `task` at `when` (or soon, if past). After Stop() returns 0.
  TimerId PostAt(absl::Time when, Task task);
  // Runs `task` on the executor's thread once fewer than `n` (>= 1)
  // immediate tasks are queued: posted now if so already, else when the
  // executor has worked the queue down. After Stop() the task is dropped.
  void WhenBelow(size_t n, Task task);
  // Immediate tasks posted and not yet started.
  size_t queued() const;
  // The most immediate tasks ever queued at once (the bound a producer
  // using WhenBelow keeps, plus what it adds per step).
  size_t max_queued() const;
  // True if the timer was still pending and is now removed (it will not
  // run); false if it ran, is running, or never existed.
  bool Cancel(TimerId id);
  // Runs every immediate task already posted (and those they post), drops
  // pending timers, joins the thread. Idempotent. Must not be called from
  // the executor's own thread.
  void Stop();
  bool InExecutorThread() const;

 private:
  void Run();

  mutable absl::Mutex mu_;
  // Moves the WhenBelow tasks whose bound is met to ready_.
  void ReleaseBelowLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Appends to ready_ and raises max_queued_.
  void PushReadyLocked(Task task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::deque<Task> ready_ ABSL_GUARDED_BY(mu_);
  size_t max_queued_ ABSL_GUARDED_BY(mu_) = 0;  // high-water mark of ready_
  // WhenBelow tasks waiting for ready_ to shrink: (bound, task).
  std::vector<std::pair<size_t, Task>> below_ ABSL_GUARDED_BY(mu_);
  // Keyed by (due time, id) so equal times keep posting order.
  std::map<std::pair<absl::Time, TimerId>, Task> timers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<TimerId, absl::Time> timer_due_ ABSL_GUARDED_BY(mu_);
  TimerId next_timer_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once the fields above exist
};

}  // namespace synod::client
