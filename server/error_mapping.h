// The one place where a Synod ErrorCode becomes a gRPC status (STYLE.md §3).
//
// Every reply also carries the Synod code in its header; the gRPC code tells
// generic clients whether and how to retry:
//   NOT_LEADER, UNAVAILABLE, LEARNER_NOT_READY,
//   MEMBERSHIP_CHANGE_IN_PROGRESS                -> UNAVAILABLE (retry the call)
//   BAD_VERSION, ROLLED_BACK, RUNTIME_INCONSISTENCY -> ABORTED (re-read, retry)
//   NO_NODE, MEMBER_NOT_FOUND                     -> NOT_FOUND
//   NODE_EXISTS, MEMBER_EXISTS                    -> ALREADY_EXISTS
//   NOT_EMPTY, NO_CHILDREN_FOR_EPHEMERALS, SESSION_EXPIRED,
//   EPHEMERAL_NEEDS_SESSION, UNSAFE_MEMBERSHIP_CHANGE -> FAILED_PRECONDITION
//   INVALID_PATH, TOO_LARGE, TOO_MANY_OPS, INVALID_ARGUMENT -> INVALID_ARGUMENT
//   COMPACTED, REVISION_AHEAD                     -> OUT_OF_RANGE
//   AUTH_FAILED                                   -> UNAUTHENTICATED
//   WATCH_OVERFLOW, RESOURCE_EXHAUSTED,
//   TOO_MANY_WATCHES                              -> RESOURCE_EXHAUSTED
//   DEADLINE_EXCEEDED                             -> DEADLINE_EXCEEDED
//   DATA_LOSS                                     -> DATA_LOSS
//   INTERNAL (and unknown codes)                  -> INTERNAL
#pragma once

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

[[nodiscard]] grpc::StatusCode GrpcCodeFor(v1::ErrorCode code);

// OK for v1::OK; otherwise the mapped code with "<CODE_NAME>: message".
[[nodiscard]] grpc::Status ToGrpcStatus(v1::ErrorCode code, const std::string& message);

// The status a reply with this header is finished with: OK if header.code
// is OK; else the mapped code, and the serialized header as the status's
// binary error details, so the client still learns which replica answered,
// its leader hint and its revision (gRPC drops the response message of a
// failed call).
[[nodiscard]] grpc::Status ToGrpcStatus(const v1::ResponseHeader& header);

// A Synod code for an internal absl::Status (storage or Raft failures that
// reach a request): Unavailable/FailedPrecondition from the core -> NOT_LEADER
// is decided by callers; here DataLoss -> DATA_LOSS, DeadlineExceeded ->
// DEADLINE_EXCEEDED, Unavailable -> UNAVAILABLE, InvalidArgument ->
// INVALID_ARGUMENT, anything else -> INTERNAL.
[[nodiscard]] v1::ErrorCode ErrorCodeFor(const absl::Status& status);

}  // namespace synod::server
