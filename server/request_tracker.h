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
// Admission control: at most Limits::max_requests requests, holding at most
// Limits::max_bytes of request data, are pending at once. A request beyond
// either bound is refused at once with RESOURCE_EXHAUSTED (the replica sheds
// load instead of queueing it: its memory stays bounded and the client learns
// at once to back off). One request is always let in, however large, so a
// request under the size limit never starves.
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
#include <vector>

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

// RequestTracker's bounds (see its comment).
struct RequestTrackerLimits {
  size_t max_requests = 10000;
  size_t max_bytes = 64 << 20;
};

// How a request enters a RequestTracker.
struct RequestAdmission {
  // Request data it holds while pending (a write's command), counted
  // against RequestTrackerLimits::max_bytes.
  size_t bytes = 0;
  // A later stage of a request admitted before (a linearizable read
  // waiting for its index to apply): counted, never refused by the bound.
  bool admitted = false;
};

class RequestTracker {
 public:
  using Callback = std::function<void(const Outcome&)>;

  using Limits = RequestTrackerLimits;
  using Admission = RequestAdmission;

  explicit RequestTracker(const Limits& limits = Limits());
  ~RequestTracker();
  RequestTracker(const RequestTracker&) = delete;
  RequestTracker& operator=(const RequestTracker&) = delete;

  // Registers a request; `on_timeout_code` is what it completes with at
  // its deadline (DEADLINE_EXCEEDED for writes: outcome unknown). Returns
  // its id (never 0). Beyond the bounds (see the class comment) the
  // callback runs at once with RESOURCE_EXHAUSTED, after Stop with
  // UNAVAILABLE, and 0 is returned.
  uint64_t Register(absl::Time deadline, Callback callback,
                    v1::ErrorCode on_timeout_code = v1::DEADLINE_EXCEEDED,
                    Admission admission = Admission());
  // Completes `id` if still pending. Returns true if this call completed it.
  bool Complete(uint64_t id, const Outcome& outcome);
  bool Pending(uint64_t id) const;
  size_t size() const;
  // Request data held by pending requests.
  size_t bytes() const;
  // Requests refused by the bounds, ever.
  uint64_t refused() const;
  // The writes `ids` reached the Raft core (appended, or forwarded to the
  // leader): they may be applied even if this replica never learns it, so
  // Stop completes them with DEADLINE_EXCEEDED (outcome unknown), not
  // UNAVAILABLE (which promises the write did not take effect).
  void MarkProposed(const std::vector<uint64_t>& ids);

  // Completes every pending request with UNAVAILABLE (proposed writes:
  // DEADLINE_EXCEEDED, see MarkProposed) and joins the deadline thread.
  // Idempotent.
  void Stop();

 private:
  struct Entry {
    absl::Time deadline;
    Callback callback;
    v1::ErrorCode on_timeout;
    size_t bytes;
    bool proposed = false;
  };
  void DeadlineLoop();

  const Limits limits_;
  mutable absl::Mutex mu_;
  // Starts at a random value: ids travel in log entries (origin_request),
  // and an entry proposed before a restart may apply after it; a fresh
  // count from 1 would let it complete an unrelated new request.
  uint64_t next_id_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::map<uint64_t, Entry> pending_ ABSL_GUARDED_BY(mu_);
  // Invariant: the sum of pending_[*].bytes.
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::pair<absl::Time, uint64_t>> by_deadline_ ABSL_GUARDED_BY(mu_);
  std::thread deadline_thread_;
};

}  // namespace synod::server
