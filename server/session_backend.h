// ReplicaSessionBackend: what the Session service needs from this replica:
// proposals through RequestFlow (Open/Close complete when applied here),
// lookups in the local TreeStore, and heartbeats routed to the leader's
// SessionTracker (leader) or to the HeartbeatBatcher that forwards them to
// the leader (follower).
//
// Secrets are chosen by the replica that proposes the open (16 random
// bytes from the OS) and carried in the command, so apply stays pure.
//
// Thread: gRPC callback threads; completions on the completing thread.
#pragma once

#include "absl/time/time.h"
#include "server/replica_state.h"
#include "server/services/request_flow.h"
#include "server/session/session_service.h"
#include "server/session/session_tracker.h"
#include "storage/tree_store.h"

namespace synod::server {

class ReplicaSessionBackend final : public SessionBackend {
 public:
  // Not owned; all outlive the backend.
  ReplicaSessionBackend(RequestFlow* flow, storage::TreeStore* store, SessionTracker* tracker,
                        HeartbeatBatcher* batcher, absl::Duration request_timeout)
      : flow_(flow),
        store_(store),
        tracker_(tracker),
        batcher_(batcher),
        request_timeout_(request_timeout) {}

  v1::ResponseHeader Header() override;
  void ProposeOpen(int64_t timeout_ms, const v1::Caller& caller,
                   absl::AnyInvocable<void(OpenOutcome) &&> done) override;
  void ProposeClose(uint64_t session_id, const v1::Caller& caller,
                    absl::AnyInvocable<void(v1::ErrorCode, std::string) &&> done) override;
  absl::StatusOr<SessionLookup> Lookup(uint64_t session_id) override;
  void Touch(uint64_t session_id) override;

 private:
  RequestFlow* const flow_;
  storage::TreeStore* const store_;
  SessionTracker* const tracker_;
  HeartbeatBatcher* const batcher_;
  const absl::Duration request_timeout_;
};

}  // namespace synod::server
