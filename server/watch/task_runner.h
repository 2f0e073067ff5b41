// TaskRunner: where WatchHub runs its catch-up reads (never on the apply
// thread). WorkerThread is the production runner; tests run tasks by hand.
#pragma once

#include <deque>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace synod::server {

class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  // Runs `task` later, on some other thread; never runs it inline and never
  // blocks the caller.
  virtual void Post(absl::AnyInvocable<void() &&> task) = 0;
};

// One thread running posted tasks in order.
// Thread: Post from any thread; tasks run on the worker thread.
// Invariant: after Stop() returns no task runs; tasks still queued (or
// posted later) are dropped.
class WorkerThread final : public TaskRunner {
 public:
  WorkerThread();
  ~WorkerThread() override;  // Stop()
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  void Post(absl::AnyInvocable<void() &&> task) override;
  // Finishes the running task, drops the queue, joins. Idempotent. Must not
  // be called from a task.
  void Stop();

 private:
  void Run();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace synod::server
