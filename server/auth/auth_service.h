// AuthService: the Auth gRPC service (auth.proto): Authenticate, WhoAmI,
// user management and the auth switch.
//
// User and auth changes travel through the log like every write: the
// replica that receives UserAdd or UserPasswd hashes the password (the
// password itself never leaves this replica, is never logged) and proposes
// a UserPutCommand with a fresh random token_key; AuthEnable proposes an
// AuthSetCommand with a fresh random key. Every command carries the caller
// (Authenticator::Resolve), and apply decides again on every replica; the
// checks here only give a clear answer early against the state this
// replica applied.
//
// Handlers never block: password hashing and checking run on HashWorkers
// (2 threads, bounded queue); a full queue answers RESOURCE_EXHAUSTED.
//
// Thread: gRPC callback threads and the hash workers. Stop before the gRPC
// server shuts down (queued work then finishes its calls).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "server/auth/authenticator.h"
#include "server/auth/hash_workers.h"
#include "server/auth/password.h"
#include "server/replica_state.h"
#include "server/request_tracker.h"
#include "synod/v1/auth.grpc.pb.h"

namespace synod::server {

class AuthService final : public v1::Auth::CallbackService {
 public:
  struct Options {
    size_t hash_threads = 2;
    size_t max_queued = 64;  // password jobs waiting (RESOURCE_EXHAUSTED beyond)
    uint32_t iterations = kDefaultPbkdf2Iterations;
    absl::Duration request_timeout = absl::Seconds(10);
  };
  // Proposes a command through the log; `done` runs once (RequestFlow::Write).
  using ProposeFn =
      std::function<void(absl::Time deadline, v1::Command command, RequestTracker::Callback done)>;

  // Not owned; both outlive the service.
  AuthService(Options options, const Authenticator* auth, const ReplicaState* state,
              ProposeFn propose);
  ~AuthService() override;

  // Refuses new password work and finishes what is queued. Idempotent.
  void Stop();

  grpc::ServerUnaryReactor* Authenticate(grpc::CallbackServerContext* context,
                                         const v1::AuthenticateRequest* request,
                                         v1::AuthenticateResponse* response) override;
  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context,
                                   const v1::WhoAmIRequest* request,
                                   v1::WhoAmIResponse* response) override;
  grpc::ServerUnaryReactor* UserAdd(grpc::CallbackServerContext* context,
                                    const v1::UserAddRequest* request,
                                    v1::UserAddResponse* response) override;
  grpc::ServerUnaryReactor* UserDelete(grpc::CallbackServerContext* context,
                                       const v1::UserDeleteRequest* request,
                                       v1::UserDeleteResponse* response) override;
  grpc::ServerUnaryReactor* UserPasswd(grpc::CallbackServerContext* context,
                                       const v1::UserPasswdRequest* request,
                                       v1::UserPasswdResponse* response) override;
  grpc::ServerUnaryReactor* UserList(grpc::CallbackServerContext* context,
                                     const v1::UserListRequest* request,
                                     v1::UserListResponse* response) override;
  grpc::ServerUnaryReactor* AuthEnable(grpc::CallbackServerContext* context,
                                       const v1::AuthEnableRequest* request,
                                       v1::AuthEnableResponse* response) override;
  grpc::ServerUnaryReactor* AuthDisable(grpc::CallbackServerContext* context,
                                        const v1::AuthDisableRequest* request,
                                        v1::AuthDisableResponse* response) override;
  grpc::ServerUnaryReactor* AuthStatus(grpc::CallbackServerContext* context,
                                       const v1::AuthStatusRequest* request,
                                       v1::AuthStatusResponse* response) override;

 private:
  // Hashes `password` on a worker and proposes a UserPutCommand.
  template <typename Response>
  grpc::ServerUnaryReactor* PutUser(grpc::CallbackServerContext* context, v1::Caller caller,
                                    std::string name, std::string password, bool superuser,
                                    bool create, Response* response);
  // Proposes `command` stamped with `caller` and answers with its outcome.
  template <typename Response>
  void Propose(absl::Time deadline, v1::Command command, const v1::Caller& caller,
               grpc::ServerUnaryReactor* reactor, Response* response);
  absl::Time Deadline(const grpc::CallbackServerContext* context) const;

  const Options options_;
  const Authenticator* const auth_;
  const ReplicaState* const state_;
  const ProposeFn propose_;
  HashWorkers workers_;
};

// A user name Synod accepts: 1-128 bytes of [A-Za-z0-9._@-]. InvalidArgument
// otherwise.
absl::Status CheckUserName(std::string_view name);

}  // namespace synod::server
