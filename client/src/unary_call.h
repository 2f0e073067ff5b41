// UnaryCall: one client request, with routing and retries, over gRPC's
// callback API (no thread waits for the reply).
//
// Each attempt goes to one replica chosen by the route; its outcome is
// classified (reply.h). NOT_LEADER naming a known leader is retried there at
// once; UNAVAILABLE, NOT_LEADER, RESOURCE_EXHAUSTED (overload) and attempt
// timeouts are retried after a jittered exponential backoff, on the next
// replica when the one used failed, as long as the caller's deadline leaves
// room and the retry policy allows it. Overload is retried whatever the
// policy: the server refuses it before it takes effect.
// An attempt is handed to gRPC only once its replica's channel is READY; one
// whose channel never got there never left this process and is retried
// whatever the policy: nothing can have happened.
// Each attempt carries the client's credentials (credentials.h), waiting
// for a token first when the client has a user and no fresh one; an
// attempt that carried a token and failed UNAUTHENTICATED (the token
// expired, or the password changed) authenticates again and is retried
// once, whatever the policy: the replica refused it before it took effect.
// `done` runs exactly once, on a gRPC or event-loop thread; it must not block.
//
// Thread-safety: Start from any thread. The call object is shared by the
// gRPC callback, the loop timer and the tracker; its mutex guards the fields
// Cancel touches.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/src/core.h"
#include "client/src/pipeline.h"
#include "client/src/reply.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace synod::client {

enum class Route {
  kAny,     // the current replica (reads, sessions, admin reads)
  kLeader,  // the leader if known, else the current replica (writes)
  kPinned,  // one given replica, never another (status of a member)
};

enum class RetryPolicy {
  kIdempotent,       // any UNAVAILABLE / NOT_LEADER / attempt timeout
  kNotProposedOnly,  // only when the replica said NOT_LEADER (write not proposed)
};

template <typename Req, typename Resp>
using AsyncMethod = void (*)(Endpoint& ep, grpc::ClientContext* ctx, const Req* req, Resp* resp,
                             std::function<void(grpc::Status)> done);

template <typename Req, typename Resp>
struct RpcSpec {
  AsyncMethod<Req, Resp> method = nullptr;
  Route route = Route::kAny;
  RetryPolicy retry = RetryPolicy::kIdempotent;
  // A write whose last attempt may have reached a replica has an unknown
  // outcome when the deadline ends the retries: DEADLINE_EXCEEDED. A read
  // then reports the last error (UNAVAILABLE: nobody could serve it).
  bool write = false;
  std::shared_ptr<Endpoint> pinned;  // for Route::kPinned
  // Sent without credentials (Auth.Authenticate, which carries its own).
  bool anonymous = false;
  // If set and true for a response that came with gRPC OK, that response is
  // the call's result even though its header reports an error (a failed
  // multi still carries its per-op results).
  bool (*accept_error)(const Resp& resp) = nullptr;
};

// "IDLE", "CONNECTING"... for messages.
const char* ChannelStateName(grpc_connectivity_state state);

template <typename Req, typename Resp>
class UnaryCall : public CallTracker::Call,
                  public std::enable_shared_from_this<UnaryCall<Req, Resp>> {
 public:
  using Done = std::function<void(absl::StatusOr<Resp>)>;

  // How soon Send looks at a connecting channel again: first, and at most.
  static constexpr absl::Duration kFirstConnectPoll = absl::Milliseconds(1);
  static constexpr absl::Duration kMaxConnectPoll = absl::Milliseconds(20);

  static void Start(ClientCore* core, RpcSpec<Req, Resp> spec, Req req, absl::Time deadline,
                    Done done) {
    auto call = std::shared_ptr<UnaryCall>(
        new UnaryCall(core, std::move(spec), std::move(req), deadline, std::move(done)));
    if (!core->tracker().Register(call)) {
      call->done_(absl::CancelledError("client is shutting down"));
      return;
    }
    call->Attempt();
  }

  void Cancel() override {
    std::shared_ptr<grpc::ClientContext> ctx;
    SerialExecutor::TimerId timer = 0;
    std::shared_ptr<Endpoint> pipelined;
    uint64_t pipelined_id = 0;
    {
      absl::ReleasableMutexLock lock(&mu_);
      cancelled_ = true;
      ctx = ctx_;
      timer = timer_;
      pipelined = pipelined_;
      pipelined_id = pipelined_id_;
    }
    if (pipelined != nullptr) {
      // An id of 0: Start has not returned; the attempt cancels itself.
      if (pipelined_id != 0) pipelined->pipeline.Cancel(pipelined_id);
      return;
    }
    if (timer != 0 && core_->loop().Cancel(timer)) {
      Finish(absl::CancelledError("client is shutting down"));
      return;
    }
    if (ctx != nullptr) ctx->TryCancel();
  }

 private:
  UnaryCall(ClientCore* core, RpcSpec<Req, Resp> spec, Req req, absl::Time deadline, Done done)
      : core_(core),
        spec_(std::move(spec)),
        req_(std::move(req)),
        deadline_(deadline),
        done_(std::move(done)),
        backoff_(core->options().initial_backoff) {}

  std::shared_ptr<Endpoint> PickEndpoint() {
    switch (spec_.route) {
      case Route::kPinned:
        return spec_.pinned;
      case Route::kLeader:
        if (auto leader = core_->endpoints().Leader()) return leader;
        return core_->endpoints().Current();
      case Route::kAny:
        break;
    }
    return core_->endpoints().Current();
  }

  void Attempt(std::shared_ptr<Endpoint> target = nullptr) {
    if (spec_.anonymous) {
      StartAttempt(std::move(target), CallMetadata());
      return;
    }
    core_->credentials().Get(core_, deadline_,
                             [self = this->shared_from_this(),
                              target = std::move(target)](absl::StatusOr<CallMetadata> md) mutable {
                               if (!md.ok()) {
                                 self->Finish(md.status());
                                 return;
                               }
                               self->StartAttempt(std::move(target), *std::move(md));
                             });
  }

  void StartAttempt(std::shared_ptr<Endpoint> target, CallMetadata md) {
    metadata_ = std::move(md);
    attempt_deadline_ = std::min(deadline_, absl::Now() + core_->options().attempt_timeout);
    ep_ = target != nullptr ? std::move(target) : PickEndpoint();
    ++attempts_;
    connect_poll_ = kFirstConnectPoll;
    Send();
  }

  // Hands the attempt to gRPC once the replica's channel is READY (a
  // connection whose HTTP/2 handshake is done). Until then nothing of the
  // request has left this process, whatever gRPC would report: an attempt
  // whose channel fails (TRANSIENT_FAILURE) or is still connecting at the
  // attempt's deadline ends as "not sent", and even a write that is not
  // exactly-once may go to another replica. gRPC offers no callback for a
  // channel's state in its callback API (only a completion queue or a
  // blocking wait), so the event loop looks again at growing intervals.
  void Send() {
    const grpc_connectivity_state state = ep_->channel->GetState(/*try_to_connect=*/true);
    if (state != GRPC_CHANNEL_READY) {
      const absl::Time now = absl::Now();
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN ||
          now >= attempt_deadline_) {
        OnNotSent(state);
        return;
      }
      const absl::Time at = std::min(attempt_deadline_, now + connect_poll_);
      connect_poll_ = std::min(connect_poll_ * 2, kMaxConnectPoll);
      ScheduleStep(at, &UnaryCall::Send);
      return;
    }
    if (SendPipelined()) return;
    auto ctx = std::make_shared<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(attempt_deadline_));
    // The channel was READY just now; should it fail before gRPC picks a
    // connection, the call fails at once rather than waiting for another.
    ctx->set_wait_for_ready(false);
    AttachMetadata(metadata_, ctx.get());
    {
      absl::ReleasableMutexLock lock(&mu_);
      timer_ = 0;
      if (cancelled_) {
        lock.Release();
        Finish(absl::CancelledError("client is shutting down"));
        return;
      }
      ctx_ = ctx;
    }
    resp_.Clear();
    spec_.method(*ep_, ctx.get(), &req_, &resp_,
                 [self = this->shared_from_this()](grpc::Status s) { self->OnDone(s); });
  }

  // Sends the attempt on the replica's pipeline, if it is a tree call that
  // may go there; false if it must be a unary call.
  bool SendPipelined() {
    if constexpr (!PipelineOf<Req>::kPipelined) {
      return false;
    } else {
      constexpr size_t kMaxPipelinedBytes = 512 << 10;
      if (!core_->options().pipeline_calls || req_.ByteSizeLong() > kMaxPipelinedBytes ||
          !ep_->pipeline.supported()) {
        return false;
      }
      std::shared_ptr<Endpoint> ep = ep_;
      v1::PipelineCall call;
      PipelineOf<Req>::Put(req_, &call);
      uint64_t token = 0;
      {
        absl::ReleasableMutexLock lock(&mu_);
        timer_ = 0;
        if (cancelled_) {
          lock.Release();
          Finish(absl::CancelledError("client is shutting down"));
          return true;
        }
        token = ++pipelined_token_;
        pipelined_ = ep;
        pipelined_id_ = 0;
      }
      resp_.Clear();
      // Not under mu_: the call may end on another thread at once, and
      // gRPC may run a reaction on this one.
      const uint64_t id = ep->pipeline.Start(std::move(call), metadata_, attempt_deadline_,
                                             &core_->loop(),
                                             [self = this->shared_from_this(), token](
                                                 const grpc::Status& s, v1::PipelineReply* reply) {
                                               self->OnPipelined(token, s, reply);
                                             });
      bool cancel = false;
      {
        absl::MutexLock lock(&mu_);
        if (pipelined_token_ == token && pipelined_ != nullptr) {
          pipelined_id_ = id;
          cancel = cancelled_;  // Cancel came before the id was known
        }
      }
      if (cancel) ep->pipeline.Cancel(id);
      return true;
    }
  }

  void OnPipelined(uint64_t token, const grpc::Status& s, v1::PipelineReply* reply) {
    if constexpr (PipelineOf<Req>::kPipelined) {
      {
        absl::MutexLock lock(&mu_);
        if (pipelined_token_ == token) {
          pipelined_ = nullptr;
          pipelined_id_ = 0;
        }
      }
      if (reply == nullptr && s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        // A replica without Tree.Pipeline: the same attempt, as a unary call.
        --attempts_;
        Attempt(ep_);
        return;
      }
      if (reply == nullptr) {
        OnDone(s);
        return;
      }
      PipelineOf<Req>::Take(reply, &resp_);
      // As a failed unary call carries it: the header in the details.
      OnDone(s.ok() ? s
                    : grpc::Status(s.error_code(), s.error_message(),
                                   resp_.header().SerializeAsString()));
    }
  }

  void OnDone(const grpc::Status& grpc_status) {
    OnAttemptEnd(ClassifyReply(grpc_status, resp_.header(), ep_->address), grpc_status.ok(),
                 /*sent=*/true);
  }

  // The attempt ended before anything was handed to gRPC: its replica's
  // channel never became READY.
  void OnNotSent(grpc_connectivity_state state) {
    Reply r;
    r.code = ErrorCode::kUnavailable;
    r.status =
        SynodError(r.code, absl::StrCat(ep_->address, ": not connected (channel ",
                                        ChannelStateName(state), "); the request was not sent"));
    OnAttemptEnd(std::move(r), /*grpc_ok=*/false, /*sent=*/false);
  }

  // `sent`: the attempt was handed to gRPC on a READY channel, so it may
  // have reached the replica even if no answer says so.
  void OnAttemptEnd(Reply r, bool grpc_ok, bool sent) {
    if (r.answered) {
      if (core_->endpoints().ReportHeader(*ep_, r.member_id, r.leader_id)) {
        core_->RefreshMembers();
      }
      core_->NoteRevision(r.revision);
    }
    if ((r.code == ErrorCode::kOk && r.status.ok()) ||
        (grpc_ok && spec_.accept_error != nullptr && spec_.accept_error(resp_))) {
      Finish(std::move(resp_));
      return;
    }
    if (r.code == ErrorCode::kUnauthenticated && !metadata_.token.empty() && !reauthenticated_) {
      reauthenticated_ = true;
      core_->credentials().Invalidate(metadata_);
      --attempts_;  // the same attempt, with a new token
      Attempt(ep_);
      return;
    }
    const bool not_leader = r.code == ErrorCode::kNotLeader && r.answered;
    // The replica's admission control refused the request before it took
    // effect (server/request_tracker.h): retry after the backoff, on the
    // same route, whatever the policy. (gRPC's own RESOURCE_EXHAUSTED, with
    // no Synod code, promises nothing of the kind.)
    const bool overloaded = r.code == ErrorCode::kResourceExhausted && r.answered;
    if (sent && !overloaded) maybe_applied_ = true;
    // DEADLINE_EXCEEDED, from our attempt timeout or from a replica that
    // could not finish in time (say, forwarding to a leader that just
    // died), means "outcome unknown": safe to retry for idempotent calls
    // and session writes, which the session table answers once.
    const bool transient = not_leader || overloaded || r.code == ErrorCode::kUnavailable ||
                           r.code == ErrorCode::kDeadlineExceeded;
    // A request that never left this process (no connection to the
    // replica) cannot have been proposed: any call may go elsewhere.
    const bool allowed =
        spec_.retry == RetryPolicy::kIdempotent || not_leader || overloaded || !sent;
    if (!transient || !allowed) {
      Finish(std::move(r.status));
      return;
    }
    // An attempt cut short by the caller's own deadline says less than the
    // error before it (say, UNAVAILABLE): keep that one.
    if (!(r.code == ErrorCode::kDeadlineExceeded && !last_error_.ok())) {
      last_error_ = r.status;
    }
    // A NOT_LEADER that names a leader we can reach: go there now, but only
    // a few times in a row, so two replicas naming each other cannot spin.
    if (not_leader && spec_.route != Route::kPinned && redirects_ < 3) {
      auto leader = core_->endpoints().ByMemberId(r.leader_id);
      if (leader != nullptr && leader != ep_) {
        ++redirects_;
        Attempt(std::move(leader));
        return;
      }
    }
    redirects_ = 0;
    // Not reached, cannot serve, or not the leader and no better hint:
    // the next attempt goes to another replica.
    if (!r.answered || r.code == ErrorCode::kUnavailable ||
        r.code == ErrorCode::kDeadlineExceeded || not_leader) {
      if (spec_.route != Route::kPinned) core_->endpoints().ReportFailure(*ep_);
      if (core_->options().discover_members) core_->RefreshMembers();
    }
    const absl::Duration delay = core_->Jitter(backoff_);
    backoff_ = core_->NextBackoff(backoff_);
    const absl::Time at = absl::Now() + delay;
    if (at >= deadline_) {
      // A write's outcome is unknown only if some attempt may have taken
      // effect; if none was sent, or every one was refused for overload,
      // nothing happened: the last error says why.
      const ErrorCode code =
          spec_.write && maybe_applied_ ? ErrorCode::kDeadlineExceeded : ErrorCodeOf(last_error_);
      Finish(SynodError(code, absl::StrCat("gave up at the deadline after ", attempts_,
                                           " attempt(s); last error: ", last_error_.message())));
      return;
    }
    ScheduleStep(at, &UnaryCall::RetryStep);
  }

  void RetryStep() { Attempt(); }

  // Runs `step` on the event loop at `at`, unless the call was cancelled
  // (then it ends now, as it does if the loop has stopped).
  void ScheduleStep(absl::Time at, void (UnaryCall::*step)()) {
    absl::ReleasableMutexLock lock(&mu_);
    if (cancelled_) {
      lock.Release();
      Finish(absl::CancelledError("client is shutting down"));
      return;
    }
    timer_ =
        core_->loop().PostAt(at, [self = this->shared_from_this(), step] { ((*self).*step)(); });
    if (timer_ == 0) {  // the loop has stopped
      lock.Release();
      Finish(absl::CancelledError("client is shutting down"));
    }
  }

  void Finish(absl::StatusOr<Resp> result) {
    done_(std::move(result));
    // Last: once unregistered, the client may be destroyed.
    core_->tracker().Unregister(this);
  }

  ClientCore* const core_;
  const RpcSpec<Req, Resp> spec_;
  const Req req_;
  const absl::Time deadline_;
  const Done done_;
  // Touched only by the one thread that runs the current step of the call
  // (attempt start, its completion, its retry timer): steps never overlap.
  Resp resp_;
  std::shared_ptr<Endpoint> ep_;
  absl::Time attempt_deadline_;
  absl::Duration connect_poll_;  // next wait for the channel to become READY
  absl::Duration backoff_;
  int attempts_ = 0;
  int redirects_ = 0;
  // Some attempt was handed to gRPC (on a READY channel) and its answer does
  // not rule out that it took effect.
  bool maybe_applied_ = false;
  absl::Status last_error_;
  CallMetadata metadata_;          // the credentials of the current attempt
  bool reauthenticated_ = false;  // the one retry after UNAUTHENTICATED is used

  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<grpc::ClientContext> ctx_ ABSL_GUARDED_BY(mu_);
  // The pipelined attempt in flight, if any (for Cancel).
  std::shared_ptr<Endpoint> pipelined_ ABSL_GUARDED_BY(mu_);
  uint64_t pipelined_id_ ABSL_GUARDED_BY(mu_) = 0;     // 0 until Start returned
  uint64_t pipelined_token_ ABSL_GUARDED_BY(mu_) = 0;  // counts pipelined attempts
  SerialExecutor::TimerId timer_ ABSL_GUARDED_BY(mu_) = 0;
};

// Starts a call; see UnaryCall.
template <typename Req, typename Resp>
void StartCall(ClientCore* core, RpcSpec<Req, Resp> spec, Req req, absl::Time deadline,
               std::function<void(absl::StatusOr<Resp>)> done) {
  UnaryCall<Req, Resp>::Start(core, std::move(spec), std::move(req), deadline, std::move(done));
}

}  // namespace synod::client
