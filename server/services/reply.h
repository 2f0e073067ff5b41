// Finishing a unary reply: header filled from the replica's state, then the
// reactor finished with the status error_mapping derives from the header.
//
// Thread: any (the thread that completes the request).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "grpcpp/support/server_callback.h"
#include "server/error_mapping.h"
#include "server/replica_state.h"

namespace synod::server {

template <typename Response>
void FinishReply(grpc::ServerUnaryReactor* reactor, Response* response, const ReplicaState& state,
                 v1::ErrorCode code = v1::OK, const std::string& message = "",
                 std::optional<uint64_t> revision = std::nullopt) {
  v1::ResponseHeader* header = response->mutable_header();
  state.FillHeader(header, code, message);
  if (revision.has_value()) header->set_revision(*revision);
  reactor->Finish(ToGrpcStatus(*header));
}

}  // namespace synod::server
