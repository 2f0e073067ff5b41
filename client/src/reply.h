// How one RPC attempt ended, in Synod terms.
//
// The server reports errors either in the reply header (gRPC OK, header.code
// set) or as a non-OK gRPC status whose binary error details hold the
// serialized ResponseHeader (then the leader hint survives). A status with
// neither came from gRPC itself: the replica was not reached, or the attempt
// timed out. Whether the request may have left this process is not judged
// here, from gRPC's texts, but by the caller, from the channel's state when
// it sent the request (unary_call.h).
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
