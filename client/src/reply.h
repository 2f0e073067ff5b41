// How one RPC attempt ended, in Synod terms.
//
// The server reports errors either in the reply header (gRPC OK, header.code
// set) or as a non-OK gRPC status whose binary error details hold the
// serialized ResponseHeader (then the leader hint survives). A status with
// neither came from gRPC itself: the replica was not reached, or the attempt
// timed out.
//
// Thread: pure function.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"
#include "synod/client.h"
#include "synod/v1/common.pb.h"

namespace synod::client {

struct [[nodiscard]] Reply {
  // The replica answered (header or error details): the fields below it
  // carries are meaningful, and the request was seen by the server.
  bool answered = false;
  // The request may have reached a replica. False only when gRPC failed it
  // before it left this process (no connection could be made to the
  // replica): then even a non-idempotent request is safe to send elsewhere.
  bool maybe_sent = true;
  uint64_t member_id = 0;
  uint64_t leader_id = 0;
  uint64_t revision = 0;
  ErrorCode code = ErrorCode::kOk;
  absl::Status status;  // OK, or the error as the caller sees it
};

// `header` is the response's header (read only when `status` is OK).
Reply ClassifyReply(const grpc::Status& status, const v1::ResponseHeader& header,
                    const std::string& address);

}  // namespace synod::client
