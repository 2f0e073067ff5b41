// HashWorkers: a few threads of their own for slow password work (PBKDF2
// takes tens of ms), so that gRPC callback threads never block on it.
//
// The queue is bounded: TrySubmit refuses a task when it is full (the
// caller answers RESOURCE_EXHAUSTED), so a flood of logins costs a bounded
// amount of memory and at most `threads` cores. Stop runs what is queued
// (each task finishes a call, which must not be left hanging), then joins.
//
// Thread: TrySubmit from any thread; Stop and the destructor from the owner.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace synod::server {

class HashWorkers {
 public:
  HashWorkers(size_t threads, size_t max_queued);
  ~HashWorkers();
  HashWorkers(const HashWorkers&) = delete;
  HashWorkers& operator=(const HashWorkers&) = delete;

  // Queues `task`; false (and `task` dropped unrun) if max_queued tasks are
  // already waiting or Stop began.
  bool TrySubmit(std::function<void()> task);
  // Refuses new tasks, runs the queued ones, joins. Idempotent.
  void Stop();

 private:
  void Run();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);  // size <= max_queued_
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace synod::server
