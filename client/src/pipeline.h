// Pipeline: the tree calls a Client sends to one replica, carried on one
// Tree.Pipeline stream instead of a unary gRPC call each (tree.proto).
//
// Promises:
// - The stream is opened by the first call, and again by the first call
//   after it broke. Calls started while a message is being written leave
//   together in the next one (at most 1 MiB of calls per message).
// - Each call ends exactly once, never inside Start and never under a lock
//   of this class: with its reply (the status its unary RPC would have
//   ended with, OK or not, and the response); UNAVAILABLE if the stream
//   breaks first; DEADLINE_EXCEEDED at its deadline if no reply came (a
//   reply arriving later is dropped); CANCELLED on Cancel.
// - A stream carries the credentials (metadata) of the call that opened
//   it. A call with other credentials (a renewed token) opens a new stream;
//   the old one takes no more calls and is cancelled once its calls ended.
// - A replica without Tree.Pipeline (an older version) ends the stream
//   with UNIMPLEMENTED: the calls on it end with UNIMPLEMENTED and no
//   reply, and supported() turns false for good, so callers send unary
//   calls to it from then on.
//
// Thread-safety: every method from any thread. Calls end on gRPC callback
// threads or on the executor their deadline timer was posted to.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "client/src/credentials.h"
#include "client/src/executor.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"
#include "synod/v1/tree.grpc.pb.h"

namespace synod::client {

class Pipeline {
 public:
  // `reply` is the replica's answer, or null if none came.
  using Done = std::function<void(const grpc::Status& status, v1::PipelineReply* reply)>;

  explicit Pipeline(std::shared_ptr<grpc::Channel> channel);
  // Ends the stream; calls still in flight end with UNAVAILABLE.
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  bool supported() const;

  // Sends `call` (its id and timeout are set here) and returns the id to
  // Cancel it with. `loop` runs the deadline timer and must outlive the call.
  uint64_t Start(v1::PipelineCall call, const CallMetadata& metadata, absl::Time deadline,
                 SerialExecutor* loop, Done done);
  // Ends the call with CANCELLED if it has not ended yet.
  void Cancel(uint64_t id);

 private:
  class Stream;
  struct Shared;
  const std::shared_ptr<Shared> shared_;
};

// What puts each Tree request on a PipelineCall and takes its response off
// a PipelineReply; kPipelined is false for requests of other services.
template <typename Req>
struct PipelineOf {
  static constexpr bool kPipelined = false;
};

#define SYNOD_PIPELINED_CALL(Name, field)                                   \
  template <>                                                               \
  struct PipelineOf<v1::Name##Request> {                                    \
    static constexpr bool kPipelined = true;                                \
    static void Put(const v1::Name##Request& req, v1::PipelineCall* call) { \
      *call->mutable_##field() = req;                                       \
    }                                                                       \
    static void Take(v1::PipelineReply* reply, v1::Name##Response* resp) {  \
      resp->Swap(reply->mutable_##field());                                 \
    }                                                                       \
  };
SYNOD_PIPELINED_CALL(Create, create)
SYNOD_PIPELINED_CALL(Get, get)
SYNOD_PIPELINED_CALL(Exists, exists)
SYNOD_PIPELINED_CALL(Set, set)
SYNOD_PIPELINED_CALL(Delete, delete_)
SYNOD_PIPELINED_CALL(GetChildren, get_children)
SYNOD_PIPELINED_CALL(Multi, multi)
SYNOD_PIPELINED_CALL(History, history)
SYNOD_PIPELINED_CALL(Sync, sync)
#undef SYNOD_PIPELINED_CALL

}  // namespace synod::client
