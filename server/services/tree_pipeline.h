// PipelineStream: one Tree.Pipeline call, a stream of tree calls answered
// in any order.
//
// Promises: every call read is answered once (unless the client went away
// first); replies that are ready while a write is in flight, or within one
// ReplyBatch, leave together in the next message (at most 1 MiB of them, so
// a message stays well under gRPC's 4 MiB default); the stream finishes OK
// once the client half-closed and everything is answered and written.
//
// Bounded: a call counts from when it is read until its reply is handed to
// gRPC (unanswered, or answered and queued behind a write: a client that
// sends without reading its replies fills the queue). While kMaxInFlight
// calls count, or kMaxQueuedBytes of replies wait, the stream stops reading
// (flow control back to the client); calls that arrive beyond that in one
// message are answered at once with RESOURCE_EXHAUSTED instead of being
// served, so one message of small calls cannot make a replica build an
// unbounded number of replies.
//
// Lifetime: owned by itself from Open until OnDone, and by each unanswered
// call (a write applied after the client left finds the stream finished and
// drops its reply). The PerIpSlot it is opened with (its count against the
// client's address) is given back in OnDone, however the stream ended.
//
// Thread: gRPC's callback threads read and write; any thread (apply, raft,
// deadline, gRPC) finishes a call. mu_ guards the queue and the flags; gRPC
// operations start outside it, as a reaction may run on the calling thread.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/server_callback.h"
#include "server/metrics/api_metrics.h"
#include "server/per_ip_limit.h"
#include "server/reply_batch.h"
#include "server/services/reply.h"
#include "synod/v1/tree.pb.h"

namespace synod::server {

class PipelineStream final
    : public grpc::ServerBidiReactor<v1::PipelineRequest, v1::PipelineResponse>,
      public ReplyBatch::Flushable,
      public std::enable_shared_from_this<PipelineStream> {
 public:
  // Serves one call: fills `reply`'s response, then finishes `replier`.
  using Handler =
      std::function<void(const v1::PipelineCall& call, v1::PipelineReply* reply, Replier replier)>;

  static constexpr size_t kMaxInFlight = 1024;
  static constexpr size_t kMaxQueuedBytes = 16 << 20;
  static constexpr size_t kMaxReplyBytes = 1 << 20;

  // Starts reading; gRPC owns the returned reactor until OnDone. `metrics`
  // (may be null) counts each call under its unary RPC's name; `slot` is
  // held until OnDone.
  static PipelineStream* Open(Handler handler, metrics::ApiMetrics* metrics,
                              PerIpSlot slot = PerIpSlot());
  // A stream refused before any call is read (its caller is not
  // authenticated): finishes with `status` at once.
  static grpc::ServerBidiReactor<v1::PipelineRequest, v1::PipelineResponse>* Refuse(
      grpc::Status status);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;
  // The end of the ReplyBatch this stream's answers were deferred to.
  void Flush() override;

  // Use Open.
  PipelineStream(Handler handler, metrics::ApiMetrics* metrics, PerIpSlot slot)
      : handler_(std::move(handler)), metrics_(metrics), slot_(std::move(slot)) {}

 private:
  class Call;

  // A call's reply is ready: queue it and write if idle.
  void Answer(v1::PipelineReply* reply, const grpc::Status& status, const char* method,
              absl::Time start);
  // Finishes with `status` once no write is in flight (first status wins).
  void End(grpc::Status status);
  // Starts the next write, a paused read, or Finish, as the state allows.
  void Pump();
  // Calls counted against kMaxInFlight, and whether the stream is full.
  size_t InFlight() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return unanswered_ + queued_replies_;
  }
  bool Full() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return InFlight() >= kMaxInFlight || queued_bytes_ >= kMaxQueuedBytes;
  }
  // StartRead, decided under mu_ (starting_read_ set), started outside it;
  // Finish waits for it, so no read starts on a finished call.
  void StartReadOutsideLock();

  const Handler handler_;
  metrics::ApiMetrics* const metrics_;
  PerIpSlot slot_;                        // released in OnDone
  std::shared_ptr<PipelineStream> self_;  // set in Open, dropped in OnDone
  v1::PipelineRequest request_;           // owned by the read in flight

  absl::Mutex mu_;
  v1::PipelineResponse response_ ABSL_GUARDED_BY(mu_);  // owned by the write in flight
  std::deque<v1::PipelineResponse> queued_ ABSL_GUARDED_BY(mu_);
  size_t back_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // encoded size of queued_.back()
  size_t unanswered_ ABSL_GUARDED_BY(mu_) = 0;
  // Replies in queued_ and their encoded bytes.
  size_t queued_replies_ ABSL_GUARDED_BY(mu_) = 0;
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool flush_deferred_ ABSL_GUARDED_BY(mu_) = false;      // a ReplyBatch will Flush
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;         // Full(): not reading
  bool starting_read_ ABSL_GUARDED_BY(mu_) = false;       // a StartRead is about to be made
  bool half_closed_ ABSL_GUARDED_BY(mu_) = false;         // the client sends no more calls
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);  // set: finish when idle
  bool finished_ ABSL_GUARDED_BY(mu_) = false;            // Finish was called
};

}  // namespace synod::server
