// RequestFlow: how a client request travels through a replica, shared by the
// gRPC services.
//
// Writes: the request gets a tracker id and a deadline, its Command is
// proposed through the raft thread, and the callback runs once: when this
// replica applies the entry (so the client then reads its own write here),
// or when the write is refused (no leader: UNAVAILABLE with the leader hint
// in the header), or at the deadline (DEADLINE_EXCEEDED: outcome unknown).
//
// Reads: SERIALIZABLE runs at once on the calling thread; min_revision waits
// until this replica applied that revision; LINEARIZABLE waits for a
// ReadIndex (§6.4) and then until applied up to it. A read never waits past
// its deadline, and its wait goes with it. A min_revision more than
// max_revision_ahead beyond the commit index this replica knows is refused
// with REVISION_AHEAD instead of waited for: no replica of a healthy
// cluster is that far behind, so the revision was not issued by it.
//
// Every waiting request counts against the tracker's bounds: beyond them it
// is refused with RESOURCE_EXHAUSTED (admission control, request_tracker.h).
//
// The deadline is the client's, capped by the server's request timeout.
// Nothing here blocks: callers are gRPC callback handlers.
//
// Write and Read are virtual so that service tests can stand in for the
// replica behind them.
//
// Thread-safe.
#pragma once

#include <functional>

#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "server/raft_driver.h"
#include "server/replica_state.h"
#include "server/request_tracker.h"
#include "server/state_machine.h"
#include "synod/v1/command.pb.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

class RequestFlow {
 public:
  // Not owned; all outlive this object.
  RequestFlow(ReplicaState* state, RequestTracker* tracker, RaftDriver* driver,
              StateMachine* state_machine, absl::Duration max_request_time,
              uint64_t max_revision_ahead = kDefaultMaxRevisionAhead)
      : state_(state),
        tracker_(tracker),
        driver_(driver),
        state_machine_(state_machine),
        max_request_time_(max_request_time),
        max_revision_ahead_(max_revision_ahead) {}
  virtual ~RequestFlow() = default;

  static constexpr uint64_t kDefaultMaxRevisionAhead = 100000;

  // min(client deadline, now + max request time).
  absl::Time Deadline(const grpc::CallbackServerContext* context) const;
  // min(now + timeout, now + max request time); a zero timeout means the max.
  absl::Time Deadline(absl::Duration timeout) const;

  // Proposes `command`; `done` runs exactly once.
  virtual void Write(absl::Time deadline, v1::Command command, RequestTracker::Callback done);

  // Runs `read` once `options` allow, or `fail` with the reason (invalid
  // options, no leader, deadline). Exactly one of them runs, once.
  virtual void Read(absl::Time deadline, const v1::ReadOptions& options,
                    std::function<void()> read, RequestTracker::Callback fail);

  // Registers another kind of request (membership changes): `done` runs
  // once. Returns its tracker id, or 0 if `done` already ran (shutting down).
  uint64_t Track(absl::Time deadline, RequestTracker::Callback done, v1::ErrorCode on_timeout_code);

  ReplicaState* state() const { return state_; }

 private:
  // Runs `read` when applied >= index, or `fail` at the deadline (or with
  // REVISION_AHEAD, RESOURCE_EXHAUSTED). `admitted`: a later stage of a
  // request already admitted.
  void WaitApplied(absl::Time deadline, uint64_t index, std::function<void()> read,
                   RequestTracker::Callback fail, bool admitted);

  ReplicaState* const state_;
  RequestTracker* const tracker_;
  RaftDriver* const driver_;
  StateMachine* const state_machine_;
  const absl::Duration max_request_time_;
  const uint64_t max_revision_ahead_;
};

}  // namespace synod::server
