// SessionService: synod.v1.Session (Open, KeepAlive, Close) over a
// SessionBackend that the server implements with its Raft driver, its
// TreeStore and its SessionTracker / HeartbeatBatcher.
//
// What the service decides itself: the secret check (constant-time), the codes (AUTH_FAILED for a wrong secret,
// SESSION_EXPIRED for a session the replicated table no longer has,
// UNAVAILABLE for one newer than this replica's state), and the gRPC status
// of each reply (server/error_mapping).
//
// Open and Close resolve their caller first (UNAUTHENTICATED fails the
// call) and hand it to the backend, which stamps it into the command: a
// session belongs to the identities that opened it, and apply checks that
// the caller of a close holds them.
//
// Thread: gRPC callback threads; backend completions on any thread. The
// service has no state of its own beyond its options.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "server/per_ip_limit.h"
#include "server/services/caller.h"
#include "synod/v1/common.pb.h"
#include "synod/v1/session.grpc.pb.h"

namespace synod::server {

// What a backend reports of one session in this replica's replicated table.
struct SessionLookup {
  uint64_t revision = 0;  // applied revision of the state read
  bool found = false;
  std::string secret;
  int64_t timeout_ms = 0;
};

// The outcome of an OpenSessionCommand.
struct OpenOutcome {
  v1::ErrorCode code = v1::OK;  // e.g. NOT_LEADER, UNAVAILABLE, DEADLINE_EXCEEDED
  std::string message;
  uint64_t session_id = 0;
  std::string secret;
  int64_t timeout_ms = 0;
};

// Implemented by the server. Thread: called from gRPC callback threads;
// must not block (proposals complete through their callbacks).
class SessionBackend {
 public:
  virtual ~SessionBackend() = default;

  // The header of every reply (member id, leader id, applied revision...);
  // the service sets code and message.
  virtual v1::ResponseHeader Header() = 0;

  // Proposes an OpenSessionCommand with the `timeout_ms` the client asked
  // for (apply clamps it into the bounds the cluster settings record, so
  // every replica grants the same) and a secret the leader chooses, sent by
  // `caller`; `done` runs exactly once, on any thread, when the entry
  // applied on this replica or the proposal failed.
  virtual void ProposeOpen(int64_t timeout_ms, const v1::Caller& caller,
                           absl::AnyInvocable<void(OpenOutcome) &&> done) = 0;
  // Proposes a CloseSessionCommand sent by `caller` (the service has
  // checked the secret). `done(code, message)` runs exactly once: OK once
  // applied here, SESSION_EXPIRED if it was gone by then, or why the
  // proposal failed.
  virtual void ProposeClose(uint64_t session_id, const v1::Caller& caller,
                            absl::AnyInvocable<void(v1::ErrorCode, std::string) &&> done) = 0;
  // Reads the session from this replica's applied state (TreeStore::
  // GetSession). The Status is a storage failure.
  virtual absl::StatusOr<SessionLookup> Lookup(uint64_t session_id) = 0;
  // A valid heartbeat: the leader touches its SessionTracker, a follower
  // adds the id to its HeartbeatBatcher.
  virtual void Touch(uint64_t session_id) = 0;
};

class SessionService final : public v1::Session::CallbackService {
 public:
  // `backend` must outlive the service. `callers` tells who sent a call
  // (none: every call is anonymous).
  explicit SessionService(SessionBackend* backend, CallerResolver callers = {});

  grpc::ServerUnaryReactor* Open(grpc::CallbackServerContext* context,
                                 const v1::OpenSessionRequest* request,
                                 v1::OpenSessionResponse* response) override;
  // One response per request, in order; a request for a bad session gets a
  // response whose header carries the code, and the stream goes on (it may
  // carry several sessions). The stream ends when the client half-closes.
  grpc::ServerBidiReactor<v1::KeepAliveRequest, v1::KeepAliveResponse>* KeepAlive(
      grpc::CallbackServerContext* context) override;
  // Counts each KeepAlive stream against its client's address (null, the
  // default: no limit); the stream over the limit ends at once with
  // RESOURCE_EXHAUSTED. Set before the server starts; must outlive it.
  void set_stream_limiter(PerIpLimiter* limiter) { stream_limiter_ = limiter; }
  grpc::ServerUnaryReactor* Close(grpc::CallbackServerContext* context,
                                  const v1::CloseSessionRequest* request,
                                  v1::CloseSessionResponse* response) override;

 private:
  class KeepAliveStream;

  struct Checked {
    v1::ErrorCode code = v1::OK;
    std::string message;
    int64_t timeout_ms = 0;
  };
  // Is (id, secret) a live session here?
  Checked Check(uint64_t session_id, std::string_view secret);
  // The reply to one heartbeat (touches the session if it is valid).
  v1::KeepAliveResponse Beat(const v1::KeepAliveRequest& request);

  SessionBackend* const backend_;
  const CallerResolver callers_;
  PerIpLimiter* stream_limiter_ = nullptr;
};

}  // namespace synod::server
