// RequestTracker: the client requests a replica is working on (proposed
// writes, reads waiting for a read index or an applied revision), each with
// a deadline and a completion callback that is run exactly once.
//
// Whoever finishes a request first wins: the apply thread (applied), the
// raft thread (refused: no leader), the deadline thread (timed out), or
// shutdown (UNAVAILABLE). Complete() on an id that already finished is a
// no-op, so no other party needs to know who won. Callbacks run on the
// completing thread outside the lock and must not block (they finish a gRPC
// reactor).
//
// Thread-safe. Owns one deadline thread (joined by Stop).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "synod/v1/command.pb.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

struct Outcome {
  v1::ErrorCode code = v1::OK;
  std::string message;
  // For writes: the applied command's result (null otherwise or on failure).
  const v1::CommandResult* result = nullptr;
};

class RequestTracker {
 public:
  using Callback = std::function<void(const Outcome&)>;

  RequestTracker();
  ~RequestTracker();
  RequestTracker(const RequestTracker&) = delete;
  RequestTracker& operator=(const RequestTracker&) = delete;

  // Registers a request; `on_timeout_code` is what it completes with at
  // its deadline (DEADLINE_EXCEEDED for writes: outcome unknown). Returns
  // its id (never 0). After Stop, the callback runs at once with UNAVAILABLE
  // and 0 is returned.
  uint64_t Register(absl::Time deadline, Callback callback,
                    v1::ErrorCode on_timeout_code = v1::DEADLINE_EXCEEDED);
  // Completes `id` if still pending. Returns true if this call completed it.
  bool Complete(uint64_t id, const Outcome& outcome);
  bool Pending(uint64_t id) const;
  size_t size() const;

  // Completes every pending request with UNAVAILABLE and joins the deadline
  // thread. Idempotent.
  void Stop();

 private:
  struct Entry {
    absl::Time deadline;
    Callback callback;
    v1::ErrorCode on_timeout;
  };
  void DeadlineLoop();

  mutable absl::Mutex mu_;
  // Starts at a random value: ids travel in log entries (origin_request),
  // and an entry proposed before a restart may apply after it; a fresh
  // count from 1 would let it complete an unrelated new request.
  uint64_t next_id_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::map<uint64_t, Entry> pending_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, uint64_t>> by_deadline_ ABSL_GUARDED_BY(mu_);
  std::thread deadline_thread_;
};

}  // namespace synod::server
