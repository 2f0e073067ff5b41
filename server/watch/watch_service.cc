#include "server/watch/watch_service.h"

#include <optional>
#include <utility>
#include <vector>

namespace synod::server {

// One Watch RPC. Owned by itself (self_) from Start until OnDone; sender
// tasks hold weak references, so a task that runs late finds it gone or
// finished.
class WatchService::Stream final
    : public grpc::ServerBidiReactor<v1::WatchRequest, v1::WatchResponse>,
      public std::enable_shared_from_this<Stream> {
 public:
  explicit Stream(WatchService* service) : service_(service) {}

  // After make_shared. `refuse`: the service is shutting down. `slot`:
  // the stream's count against its client's address, or why it is over
  // the limit. `caller`: whom the stream's watches are for, or why it has
  // no valid credentials.
  void Start(bool refuse, absl::StatusOr<PerIpSlot> slot, absl::StatusOr<v1::Caller> caller) {
    self_ = shared_from_this();
    if (refuse) {
      EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
      return;
    }
    if (!slot.ok()) {
      EndStream(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(slot.status().message())));
      return;
    }
    slot_ = *std::move(slot);
    if (!caller.ok()) {
      EndStream(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                             std::string(caller.status().message())));
      return;
    }
    std::weak_ptr<Stream> weak = self_;
    WorkerThread* sender = &service_->sender_;
    // The hub calls this from the apply thread: queue the work, return.
    {
      absl::MutexLock lock(&mu_);
      starting_read_ = true;
    }
    stream_id_ = service_->hub_->OpenStream(
        [weak, sender] {
          sender->Post([weak] {
            if (std::shared_ptr<Stream> stream = weak.lock()) stream->TryWrite();
          });
        },
        *std::move(caller));
    StartRead(&request_);
    ReadStarted();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed (or the call broke): the stream is over.
      EndStream(grpc::Status::OK);
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (request_.accept_batches()) accept_batches_ = true;
    }
    switch (request_.request_case()) {
      case v1::WatchRequest::kCreate:
        service_->hub_->Create(stream_id_, request_.create());
        break;
      case v1::WatchRequest::kCancel:
        service_->hub_->Cancel(stream_id_, request_.cancel().watch_id());
        break;
      default:
        break;  // an empty request asks for nothing
    }
    {
      // A client that sends requests without reading the replies is not
      // read from until its queue drains (TryWrite resumes reading).
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (service_->hub_->Backlogged(stream_id_)) {
        read_paused_ = true;
        return;
      }
      starting_read_ = true;
    }
    StartRead(&request_);
    ReadStarted();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!ok && !finish_status_) {
        finish_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
      }
    }
    TryWrite();
  }

  void OnCancel() override { EndStream(grpc::Status::CANCELLED); }

  void OnDone() override {
    if (stream_id_ != 0) service_->hub_->CloseStream(stream_id_);
    service_->Forget(this);
    slot_.Release();  // sender tasks may hold this a little longer
    // Last: may destroy this.
    std::shared_ptr<Stream> self = std::move(self_);
  }

  // Finishes with `status` once no write is in flight (the first status
  // asked for wins).
  void EndStream(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (!finish_status_) finish_status_ = std::move(status);
    }
    TryWrite();
  }

  // Starts the next write, or Finish, unless a write is in flight (its
  // OnWriteDone comes back here) or a read is being started (ReadStarted
  // comes back here: Finish must not overtake a StartRead already decided).
  // gRPC operations start outside mu_, as a reaction may run on the calling
  // thread.
  void TryWrite() {
    enum class Action { kNone, kWrite, kFinish };
    Action action = Action::kNone;
    bool resume_read = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (write_in_flight_ || finished_ || starting_read_) return;
      if (finish_status_) {
        finished_ = true;
        status = *finish_status_;
        action = Action::kFinish;
      } else {
        if (service_->hub_->Poll(stream_id_, &response_)) {
          if (accept_batches_) AddBatched();
          if (service_->header_) *response_.mutable_header() = service_->header_();
          write_in_flight_ = true;
          action = Action::kWrite;
        }
        if (read_paused_ && !service_->hub_->Backlogged(stream_id_)) {
          read_paused_ = false;
          resume_read = true;
          starting_read_ = true;
        }
      }
    }
    if (action == Action::kWrite) {
      StartWrite(&response_);
    } else if (action == Action::kFinish) {
      Finish(std::move(status));
    }
    if (resume_read) {
      StartRead(&request_);
      ReadStarted();
    }
  }

 private:
  // After a StartRead decided under mu_ (starting_read_) was made: a Finish
  // or write held back meanwhile goes now.
  void ReadStarted() {
    {
      absl::MutexLock lock(&mu_);
      starting_read_ = false;
    }
    TryWrite();
  }

  // Packs further queued responses into response_.batched: one write (one
  // gRPC reaction, one syscall) for what would be many, bounded in count
  // and bytes.
  void AddBatched() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    constexpr int kMaxBatched = 256;
    constexpr size_t kMaxBytes = 1u << 20;
    size_t bytes = response_.ByteSizeLong();
    for (int n = 0; n < kMaxBatched && bytes < kMaxBytes; ++n) {
      v1::WatchResponse* next = response_.add_batched();
      if (!service_->hub_->Poll(stream_id_, next)) {
        response_.mutable_batched()->RemoveLast();
        return;
      }
      bytes += next->ByteSizeLong();
    }
  }

  WatchService* const service_;
  WatchHub::StreamId stream_id_ = 0;  // set in Start, 0 if refused
  v1::WatchRequest request_;          // owned by the read in flight
  std::shared_ptr<Stream> self_;      // set in Start, dropped in OnDone
  PerIpSlot slot_;                    // set in Start, released in OnDone

  absl::Mutex mu_;
  // Owned by the write in flight while write_in_flight_.
  v1::WatchResponse response_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // No read is outstanding because the stream was backlogged.
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  // A StartRead was decided and is not made yet: no Finish until it is.
  bool starting_read_ ABSL_GUARDED_BY(mu_) = false;
  bool accept_batches_ ABSL_GUARDED_BY(mu_) = false;  // the client reads `batched`
  std::optional<grpc::Status> finish_status_ ABSL_GUARDED_BY(mu_);  // set: finish when idle
  bool finished_ ABSL_GUARDED_BY(mu_) = false;                      // Finish was called
};

WatchService::WatchService(WatchHub* hub, HeaderFn header, CallerFn caller)
    : hub_(hub), header_(std::move(header)), caller_(std::move(caller)) {}

WatchService::~WatchService() { sender_.Stop(); }

grpc::ServerBidiReactor<v1::WatchRequest, v1::WatchResponse>* WatchService::Watch(
    grpc::CallbackServerContext* context) {
  auto stream = std::make_shared<Stream>(this);
  absl::StatusOr<PerIpSlot> slot = PerIpLimiter::AcquireForPeer(stream_limiter_, context->peer());
  // A refused stream is not worth resolving credentials for.
  absl::StatusOr<v1::Caller> caller =
      caller_ && slot.ok() ? caller_(*context) : absl::StatusOr<v1::Caller>(v1::Caller());
  bool refuse = false;
  {
    absl::MutexLock lock(&mu_);
    refuse = shutting_down_;
    if (!refuse) streams_.emplace(stream.get(), stream);
  }
  stream->Start(refuse, std::move(slot), std::move(caller));
  return stream.get();
}

void WatchService::Shutdown() {
  std::vector<std::shared_ptr<Stream>> open;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (auto& [ptr, weak] : streams_) {
      if (std::shared_ptr<Stream> stream = weak.lock()) open.push_back(std::move(stream));
    }
  }
  for (const auto& stream : open) {
    stream->EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
  }
}

size_t WatchService::open_streams() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

void WatchService::Forget(const Stream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

}  // namespace synod::server
