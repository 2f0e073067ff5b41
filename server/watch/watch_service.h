// WatchService: synod.v1.Watch/Watch over a WatchHub.
//
// Each stream is a bidi reactor: requests (create / cancel) go straight to
// the hub; responses come from WatchHub::Poll, one write in flight at a time,
// each stamped with a ResponseHeader from the server's supplier. A stream
// whose client set WatchRequest.accept_batches gets the responses queued
// meanwhile packed into the same write (WatchResponse.batched). When the
// hub signals a stream (from the apply thread or the catch-up runner), the
// write is started from the service's sender thread, so the apply thread
// only queues a task per signaled stream.
//
// While the hub reports the stream Backlogged (a client sending requests
// without reading the replies), the stream stops reading requests until
// its queue drains, so gRPC flow control pushes back on that client.
//
// A stream ends when the client half-closes or cancels it, when a write
// fails, or on Shutdown(); its watches are then dropped from the hub
// (queued responses are not sent).
//
// Every stream resolves its caller once, at its start (CallerFn); the hub
// shows its watches only the events on nodes that caller may read.
//
// With a stream limiter set, each stream counts against its client's
// address from its start until OnDone; the one over the limit ends at once
// with RESOURCE_EXHAUSTED.
//
// Thread: gRPC callback threads, the sender thread and the hub's callers.
// Invariant: a stream calls WatchHub::CloseStream exactly once (in OnDone),
// and never starts a write or Finish after Finish.
//
// Wiring (server): construct after the hub, register with the
// grpc::ServerBuilder; at shutdown call Shutdown(), then
// grpc::Server::Shutdown(), then destroy the service, then the hub.
#pragma once

#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/per_ip_limit.h"
#include "server/watch/task_runner.h"
#include "server/watch/watch_hub.h"
#include "synod/v1/watch.grpc.pb.h"

namespace synod::server {

class WatchService final : public v1::Watch::CallbackService {
 public:
  // The header every response carries (member id, leader id, applied
  // revision...). Called on gRPC threads and the sender thread for each
  // response: must be thread-safe and cheap.
  using HeaderFn = std::function<v1::ResponseHeader()>;
  // Who a stream is from (server/auth/authenticator.h Resolve), once at its
  // start; an error ends the stream UNAUTHENTICATED with its message. Called
  // on gRPC threads: must be thread-safe. Null: every stream is anonymous.
  using CallerFn = std::function<absl::StatusOr<v1::Caller>(const grpc::CallbackServerContext&)>;

  // `hub` must outlive the service.
  WatchService(WatchHub* hub, HeaderFn header, CallerFn caller = nullptr);
  ~WatchService() override;
  WatchService(const WatchService&) = delete;
  WatchService& operator=(const WatchService&) = delete;

  grpc::ServerBidiReactor<v1::WatchRequest, v1::WatchResponse>* Watch(
      grpc::CallbackServerContext* context) override;

  // Null (the default): no limit. Set before the server starts; must
  // outlive it.
  void set_stream_limiter(PerIpLimiter* limiter) { stream_limiter_ = limiter; }

  // Finishes every open stream with UNAVAILABLE and refuses new ones, so
  // grpc::Server::Shutdown() need not wait for watch streams to end.
  void Shutdown();

  // Streams not yet done (for tests and metrics).
  size_t open_streams() const;

 private:
  class Stream;

  void Forget(const Stream* stream);

  WatchHub* const hub_;
  const HeaderFn header_;
  const CallerFn caller_;
  PerIpLimiter* stream_limiter_ = nullptr;
  // Starts writes for streams the hub signaled. Declared after the fields
  // its tasks use; stopped first in the destructor.
  WorkerThread sender_;

  mutable absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // Streams not yet done; a stream removes itself in OnDone.
  absl::flat_hash_map<const Stream*, std::weak_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::server
