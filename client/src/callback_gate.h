// CallbackGate: lets an owner stop a callback for good, even one queued on
// the callback thread, and know it is not running any more.
//
// Run calls the function unless the gate is closed, holding the gate's mutex
// meanwhile; Close waits for a running call to end, except when called from
// inside that very call (a callback that cancels its own watch), which
// would otherwise deadlock.
//
// Thread-safety: thread-safe.
#pragma once

#include <atomic>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace synod::client {

class CallbackGate {
 public:
  template <typename F>
  void Run(F&& fn) {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    running_in_.store(std::this_thread::get_id());
    fn();
    running_in_.store(std::thread::id());
  }

  // The analysis cannot see that inside Run the mutex is held by a caller
  // further up this thread's stack.
  void Close() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (running_in_.load() == std::this_thread::get_id()) {
      closed_ = true;
      return;
    }
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // The thread inside Run, if any.
  std::atomic<std::thread::id> running_in_{};
};

}  // namespace synod::client
