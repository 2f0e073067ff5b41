// Who sent a call (auth.proto): the services resolve it once per unary call
// and once per stream, check reads against it and stamp it into every
// command they propose (Command.caller), so apply checks writes alike on
// every replica.
//
// A replica resolves callers with its Authenticator (server/auth); tests
// give a fixed caller. Thread: any; a resolver never blocks (gRPC callback
// handlers call it).
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

// The caller of a call, or UNAUTHENTICATED (bad or expired credentials).
using CallerResolver =
    std::function<absl::StatusOr<v1::Caller>(const grpc::ServerContextBase& context)>;

// `resolver`'s answer; with no resolver, the anonymous caller (no identity:
// world:anyone only).
inline absl::StatusOr<v1::Caller> ResolveCaller(const CallerResolver& resolver,
                                                const grpc::ServerContextBase& context) {
  if (!resolver) return v1::Caller();
  return resolver(context);
}

}  // namespace synod::server
