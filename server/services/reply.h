// Finishing a reply: header filled from the replica's state, then the call
// finished with the status error_mapping derives from the header.
//
// A Replier is where one reply goes: a unary call's reactor, or one call of
// a Tree.Pipeline stream. Handlers are written once against it and serve
// both.
//
// Thread: any (the thread that completes the request).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "grpcpp/support/server_callback.h"
#include "server/error_mapping.h"
#include "server/replica_state.h"

namespace synod::server {

// One call of a stream that carries many: Finish hands its reply, already
// filled in by the handler, back to the stream.
class StreamedCall {
 public:
  virtual ~StreamedCall() = default;
  virtual void Finish(grpc::Status status) = 0;
};

// Cheap to copy; Finish exactly once over all copies.
class Replier {
 public:
  // Implicit: a unary handler passes its reactor.
  Replier(grpc::ServerUnaryReactor* reactor) : reactor_(reactor) {}  // NOLINT
  explicit Replier(std::shared_ptr<StreamedCall> call) : call_(std::move(call)) {}

  void Finish(grpc::Status status) const {
    if (reactor_ != nullptr) {
      reactor_->Finish(std::move(status));
    } else {
      call_->Finish(std::move(status));
    }
  }

 private:
  grpc::ServerUnaryReactor* reactor_ = nullptr;
  std::shared_ptr<StreamedCall> call_;
};

template <typename Response>
void FinishReply(const Replier& reply, Response* response, const ReplicaState& state,
                 v1::ErrorCode code = v1::OK, const std::string& message = "",
                 std::optional<uint64_t> revision = std::nullopt) {
  v1::ResponseHeader* header = response->mutable_header();
  state.FillHeader(header, code, message);
  if (revision.has_value()) header->set_revision(*revision);
  reply.Finish(ToGrpcStatus(*header));
}

}  // namespace synod::server
