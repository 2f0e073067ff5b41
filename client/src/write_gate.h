// WriteGate: at most a window of writes carrying the session's identity in
// flight at a time, the others waiting their turn in order.
//
// Why a window: the replicated session table keeps each applied sequence's
// result until the client acknowledges it (WriteContext.lowest_unacked),
// up to a bound per session; the client must not have more outstanding
// than that. Why in order: each write takes its sequence when its turn
// comes, so sequences follow the order writes were issued (with a window
// of one, so does the order they apply in).
//
// Thread-safety: thread-safe. A waiting write starts on the loop thread.
#pragma once

#include <deque>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/src/executor.h"

namespace synod::client {

class WriteGate {
 public:
  // `window`: writes let through at once (at least 1).
  WriteGate(SerialExecutor* loop, int window) : loop_(loop), window_(window < 1 ? 1 : window) {}

  // Runs `go` now if fewer than the window are in flight and none wait,
  // else after the ones before it (on the loop thread). `go` must lead to
  // exactly one Leave.
  void Enter(std::function<void()> go);
  void Leave();
  // From now on writes enter at once (they fail fast: the client is going
  // away); the waiting ones are started.
  void Close();

 private:
  SerialExecutor* const loop_;
  const int window_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::function<void()>> waiting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::client
