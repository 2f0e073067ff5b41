// WriteGate: one write carrying the session's identity in flight at a time.
//
// Why: the replicated session table keeps, per session, only the result of
// the last applied sequence; a write whose sequence is below one already
// applied is refused (DEADLINE_EXCEEDED, outcome unknown) and never
// applied. Overlapping writes of one client can reach the leader out of
// order (retries on another replica surely can), so they go one after the
// other, each taking its sequence when its turn comes. Pipelining them
// needs the server to keep the results the client still waits for (a
// "lowest unacknowledged sequence" in WriteContext, as LogCabin does).
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
  explicit WriteGate(SerialExecutor* loop) : loop_(loop) {}

  // Runs `go` now if no write is in flight, else after the ones before it
  // have left (on the loop thread). `go` must lead to exactly one Leave.
  void Enter(std::function<void()> go);
  void Leave();
  // From now on writes enter at once (they fail fast: the client is going
  // away); the waiting ones are started.
  void Close();

 private:
  SerialExecutor* const loop_;
  absl::Mutex mu_;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::function<void()>> waiting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::client
