#include "server/services/tree_pipeline.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/error_mapping.h"

namespace synod::server {
namespace {

// The unary RPC a pipelined call stands for, as the API metrics name it.
const char* MethodName(v1::PipelineCall::RequestCase kind) {
  switch (kind) {
    case v1::PipelineCall::kCreate:
      return "/synod.v1.Tree/Create";
    case v1::PipelineCall::kGet:
      return "/synod.v1.Tree/Get";
    case v1::PipelineCall::kExists:
      return "/synod.v1.Tree/Exists";
    case v1::PipelineCall::kSet:
      return "/synod.v1.Tree/Set";
    case v1::PipelineCall::kDelete:
      return "/synod.v1.Tree/Delete";
    case v1::PipelineCall::kGetChildren:
      return "/synod.v1.Tree/GetChildren";
    case v1::PipelineCall::kMulti:
      return "/synod.v1.Tree/Multi";
    case v1::PipelineCall::kHistory:
      return "/synod.v1.Tree/History";
    case v1::PipelineCall::kSync:
      return "/synod.v1.Tree/Sync";
    case v1::PipelineCall::kGetAcl:
      return "/synod.v1.Tree/GetAcl";
    case v1::PipelineCall::kSetAcl:
      return "/synod.v1.Tree/SetAcl";
    case v1::PipelineCall::REQUEST_NOT_SET:
      break;
  }
  return "/synod.v1.Tree/Pipeline";
}

}  // namespace

// One call in flight: owns its request and the reply the handler fills,
// and keeps the stream alive until it is answered.
class PipelineStream::Call final : public StreamedCall {
 public:
  Call(std::shared_ptr<PipelineStream> stream, v1::PipelineCall&& call)
      : stream_(std::move(stream)), call_(std::move(call)), start_(absl::Now()) {
    reply_.set_id(call_.id());
  }

  const v1::PipelineCall& call() const { return call_; }
  v1::PipelineReply* reply() { return &reply_; }

  void Finish(grpc::Status status) override {
    stream_->Answer(&reply_, status, MethodName(call_.request_case()), start_);
  }

 private:
  const std::shared_ptr<PipelineStream> stream_;
  const v1::PipelineCall call_;
  v1::PipelineReply reply_;
  const absl::Time start_;
};

namespace {

// Finished as it starts; deletes itself when gRPC is done with it.
class RefusedStream final
    : public grpc::ServerBidiReactor<v1::PipelineRequest, v1::PipelineResponse> {
 public:
  explicit RefusedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerBidiReactor<v1::PipelineRequest, v1::PipelineResponse>* PipelineStream::Refuse(
    grpc::Status status) {
  return new RefusedStream(std::move(status));
}

PipelineStream* PipelineStream::Open(Handler handler, metrics::ApiMetrics* metrics,
                                     PerIpSlot slot) {
  auto stream = std::make_shared<PipelineStream>(std::move(handler), metrics, std::move(slot));
  stream->self_ = stream;
  stream->StartRead(&stream->request_);
  return stream.get();
}

void PipelineStream::OnReadDone(bool ok) {
  if (!ok) {
    // Half-closed by the client (or the call broke): answer what is
    // pending, then finish.
    {
      absl::MutexLock lock(&mu_);
      half_closed_ = true;
    }
    Pump();
    return;
  }
  const int n = request_.calls_size();
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    unanswered_ += n;
  }
  std::shared_ptr<PipelineStream> self = shared_from_this();
  for (int i = 0; i < n; ++i) {
    auto call = std::make_shared<Call>(self, std::move(*request_.mutable_calls(i)));
    bool refuse = false;
    {
      // unanswered_ counts this call and the n - i - 1 after it, not yet
      // served: they do not count against the bound.
      absl::MutexLock lock(&mu_);
      const size_t unserved = static_cast<size_t>(n - i);
      refuse = unanswered_ - unserved + queued_replies_ >= kMaxInFlight ||
               queued_bytes_ >= kMaxQueuedBytes;
    }
    if (refuse) {
      Replier(call).Finish(ToGrpcStatus(
          v1::RESOURCE_EXHAUSTED,
          absl::StrCat("this pipeline stream has ", kMaxInFlight,
                       " calls in flight or their replies unread; read replies before sending "
                       "more")));
    } else {
      handler_(call->call(), call->reply(), Replier(call));
    }
  }
  request_.Clear();
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || half_closed_) return;
    if (Full()) {
      read_paused_ = true;  // Pump resumes reading as answers leave
      return;
    }
    starting_read_ = true;
  }
  StartReadOutsideLock();
}

void PipelineStream::StartReadOutsideLock() {
  StartRead(&request_);
  {
    absl::MutexLock lock(&mu_);
    starting_read_ = false;
  }
  Pump();  // a Finish held back meanwhile
}

void PipelineStream::Answer(v1::PipelineReply* reply, const grpc::Status& status,
                            const char* method, absl::Time start) {
  reply->set_status_code(static_cast<int>(status.error_code()));
  if (!status.ok()) reply->set_status_message(status.error_message());
  const size_t bytes = reply->ByteSizeLong();
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;  // the client is gone
    if (metrics_ != nullptr) {
      metrics_->Record(method, static_cast<int>(status.error_code()), /*unary=*/true,
                       absl::Now() - start);
    }
    if (queued_.empty() || back_bytes_ + bytes > kMaxReplyBytes) {
      queued_.emplace_back();
      back_bytes_ = 0;
    }
    queued_.back().add_replies()->Swap(reply);
    back_bytes_ += bytes;
    ++queued_replies_;
    queued_bytes_ += bytes;
    --unanswered_;
    if (flush_deferred_) return;  // the open ReplyBatch flushes this stream
    if (ReplyBatch::Defer(shared_from_this())) {
      flush_deferred_ = true;
      return;
    }
  }
  Pump();
}

void PipelineStream::Flush() {
  {
    absl::MutexLock lock(&mu_);
    flush_deferred_ = false;
  }
  Pump();
}

void PipelineStream::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok && !end_) end_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
  }
  Pump();
}

void PipelineStream::OnCancel() { End(grpc::Status::CANCELLED); }

void PipelineStream::OnDone() {
  // The stream is over for its client, even while unanswered calls keep
  // this object alive.
  slot_.Release();
  // Last: may destroy this (unless calls are still unanswered).
  std::shared_ptr<PipelineStream> self = std::move(self_);
}

void PipelineStream::End(grpc::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (!end_) end_ = std::move(status);
  }
  Pump();
}

void PipelineStream::Pump() {
  bool write = false;
  bool read = false;
  std::optional<grpc::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (!write_in_flight_) {
      if (!end_ && !queued_.empty()) {
        response_ = std::move(queued_.front());
        queued_.pop_front();
        if (queued_.empty()) back_bytes_ = 0;
        // Handed to gRPC: the reply no longer waits in this stream.
        queued_replies_ -= static_cast<size_t>(response_.replies_size());
        for (const v1::PipelineReply& r : response_.replies()) queued_bytes_ -= r.ByteSizeLong();
        write_in_flight_ = true;
        write = true;
      } else if (!starting_read_ && (end_ || (half_closed_ && unanswered_ == 0))) {
        finished_ = true;
        finish = end_.value_or(grpc::Status::OK);
      }
    }
    if (!finished_ && read_paused_ && !half_closed_ && !Full()) {
      read_paused_ = false;
      starting_read_ = true;
      read = true;
    }
  }
  if (write) StartWrite(&response_);
  if (finish) Finish(*std::move(finish));
  if (read) StartReadOutsideLock();
}

}  // namespace synod::server
