#include "client/src/pipeline.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"

namespace synod::client {
namespace {

constexpr size_t kMaxMessageBytes = 1 << 20;

}  // namespace

// What the Pipeline and its streams share; outlives both as needed (a
// stream may finish after the Pipeline is gone, a timer may fire after the
// call ended).
struct Pipeline::Shared {
  struct Pending {
    Done done;
    SerialExecutor* loop = nullptr;
    SerialExecutor::TimerId timer = 0;
    const Stream* stream = nullptr;
  };

  explicit Shared(std::shared_ptr<grpc::Channel> ch)
      : channel(std::move(ch)), stub(v1::Tree::NewStub(channel)) {}

  // Removes call `id` if it has not ended yet; its timer is cancelled. A
  // retired stream left with no call is cancelled.
  std::optional<Pending> Take(uint64_t id);
  // Cancels `stream` if it is retired and no pending call is on it.
  std::shared_ptr<Stream> IdleRetiredLocked(const Stream* stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  const std::shared_ptr<grpc::Channel> channel;
  const std::unique_ptr<v1::Tree::Stub> stub;

  absl::Mutex mu;
  std::shared_ptr<Stream> stream ABSL_GUARDED_BY(mu);  // null: none open
  bool unsupported ABSL_GUARDED_BY(mu) = false;
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
  absl::flat_hash_map<uint64_t, Pending> pending ABSL_GUARDED_BY(mu);
  // Streams opened with credentials no longer current, until their calls end.
  std::vector<std::shared_ptr<Stream>> retired ABSL_GUARDED_BY(mu);
};

// One Tree.Pipeline call. Owned by itself from Open until OnDone (and by
// Shared while it is the current stream). Once its reads fail (the replica
// went away, or Break) it closes: calls already on it end in OnDone, new
// ones open the next stream.
class Pipeline::Stream final
    : public grpc::ClientBidiReactor<v1::PipelineRequest, v1::PipelineResponse>,
      public std::enable_shared_from_this<Stream> {
 public:
  Stream(std::shared_ptr<Shared> shared, CallMetadata metadata)
      : shared_(std::move(shared)), metadata_(std::move(metadata)) {}

  const CallMetadata& metadata() const { return metadata_; }

  void Open() {
    self_ = shared_from_this();
    AttachMetadata(metadata_, &ctx_);
    shared_->stub->async()->Pipeline(&ctx_, this);
    // Writes start outside reactions (Send): the hold keeps the call, and
    // OnDone, away until no write can start any more (Close).
    AddHold();
    StartRead(&in_);
    StartCall();
    // Calls sent by other threads before the reactor was bound waited in
    // queued_ (Start publishes the stream before it opens it).
    bool write = false;
    {
      absl::MutexLock lock(&mu_);
      opened_ = true;
      write = !closing_ && TakeNextLocked();
    }
    if (write) StartWrite(&out_);
  }

  void Break() { ctx_.TryCancel(); }

  // Queues `call`; writes at once if no write is in flight.
  void Send(v1::PipelineCall call) {
    const size_t bytes = call.ByteSizeLong();
    {
      absl::MutexLock lock(&mu_);
      if (closing_) return;  // OnDone ends the call (it is pending on this stream)
      if (queued_.empty() || back_bytes_ + bytes > kMaxMessageBytes) {
        queued_.emplace_back();
        back_bytes_ = 0;
      }
      *queued_.back().add_calls() = std::move(call);
      back_bytes_ += bytes;
      if (!opened_ || !TakeNextLocked()) return;  // Open writes it
    }
    StartWrite(&out_);
  }

  void OnWriteDone(bool ok) override {
    bool write = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (ok && !closing_) write = TakeNextLocked();
    }
    if (write) {
      StartWrite(&out_);
      return;
    }
    if (!ok) Close();
    ReleaseHoldIfClosing();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Close();  // broken or cancelled: OnDone follows once writes stop
      return;
    }
    for (v1::PipelineReply& reply : *in_.mutable_replies()) {
      std::optional<Shared::Pending> p = shared_->Take(reply.id());
      if (!p.has_value()) continue;  // timed out or cancelled meanwhile
      const grpc::Status status(static_cast<grpc::StatusCode>(reply.status_code()),
                                reply.status_message());
      p->done(status, &reply);
    }
    in_.Clear();
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& status) override {
    const bool unimplemented = status.error_code() == grpc::StatusCode::UNIMPLEMENTED;
    std::vector<Shared::Pending> lost;
    {
      absl::MutexLock lock(&shared_->mu);
      if (shared_->stream.get() == this) shared_->stream.reset();
      std::erase_if(shared_->retired,
                    [this](const std::shared_ptr<Stream>& s) { return s.get() == this; });
      if (unimplemented) shared_->unsupported = true;
      for (auto it = shared_->pending.begin(); it != shared_->pending.end();) {
        if (it->second.stream == this) {
          lost.push_back(std::move(it->second));
          shared_->pending.erase(it++);
        } else {
          ++it;
        }
      }
    }
    const grpc::Status end =
        unimplemented
            ? status
            : grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           absl::StrCat("pipeline stream ended: ", status.error_message()));
    for (Shared::Pending& p : lost) {
      if (p.timer != 0) p.loop->Cancel(p.timer);
      p.done(end, nullptr);
    }
    // Last: may destroy this.
    std::shared_ptr<Stream> self = std::move(self_);
  }

 private:
  // No more writes start on this stream: new calls go to a new one, and
  // the hold goes once no write is in flight, which lets OnDone come.
  void Close() {
    {
      absl::MutexLock lock(&mu_);
      if (closing_) return;
      closing_ = true;
    }
    {
      absl::MutexLock lock(&shared_->mu);
      if (shared_->stream.get() == this) shared_->stream.reset();  // self_ keeps it
    }
    ReleaseHoldIfClosing();
  }

  void ReleaseHoldIfClosing() {
    {
      absl::MutexLock lock(&mu_);
      if (!closing_ || writing_ || hold_released_) return;
      hold_released_ = true;
    }
    RemoveHold();
  }

  // Moves the next queued message into out_ if no write is in flight.
  bool TakeNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || queued_.empty()) return false;
    out_ = std::move(queued_.front());
    queued_.pop_front();
    if (queued_.empty()) back_bytes_ = 0;
    writing_ = true;
    return true;
  }

  const std::shared_ptr<Shared> shared_;
  const CallMetadata metadata_;
  std::shared_ptr<Stream> self_;  // set in Open, dropped in OnDone
  grpc::ClientContext ctx_;
  v1::PipelineResponse in_;  // owned by the read in flight

  absl::Mutex mu_;
  std::deque<v1::PipelineRequest> queued_ ABSL_GUARDED_BY(mu_);
  size_t back_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // encoded calls in queued_.back()
  v1::PipelineRequest out_;                     // owned by the write in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool opened_ ABSL_GUARDED_BY(mu_) = false;         // Open bound the reactor
  bool closing_ ABSL_GUARDED_BY(mu_) = false;        // no write starts any more
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;  // the hold of Open is gone
};

std::optional<Pipeline::Shared::Pending> Pipeline::Shared::Take(uint64_t id) {
  std::optional<Pending> p;
  std::shared_ptr<Stream> idle;
  {
    absl::MutexLock lock(&mu);
    auto it = pending.find(id);
    if (it == pending.end()) return std::nullopt;
    p = std::move(it->second);
    pending.erase(it);
    idle = IdleRetiredLocked(p->stream);
  }
  if (p->timer != 0) p->loop->Cancel(p->timer);
  if (idle != nullptr) idle->Break();
  return p;
}

std::shared_ptr<Pipeline::Stream> Pipeline::Shared::IdleRetiredLocked(const Stream* stream) {
  auto it = std::find_if(retired.begin(), retired.end(),
                         [stream](const std::shared_ptr<Stream>& s) { return s.get() == stream; });
  if (it == retired.end()) return nullptr;
  for (const auto& [id, p] : pending) {
    if (p.stream == stream) return nullptr;
  }
  std::shared_ptr<Stream> idle = std::move(*it);
  retired.erase(it);
  return idle;
}

Pipeline::Pipeline(std::shared_ptr<grpc::Channel> channel)
    : shared_(std::make_shared<Shared>(std::move(channel))) {}

Pipeline::~Pipeline() {
  std::vector<std::shared_ptr<Stream>> streams;
  {
    absl::MutexLock lock(&shared_->mu);
    streams.swap(shared_->retired);
    if (shared_->stream != nullptr) streams.push_back(std::move(shared_->stream));
  }
  for (const std::shared_ptr<Stream>& stream : streams) stream->Break();
}

bool Pipeline::supported() const {
  absl::MutexLock lock(&shared_->mu);
  return !shared_->unsupported;
}

uint64_t Pipeline::Start(v1::PipelineCall call, const CallMetadata& metadata,
                         absl::Time deadline, SerialExecutor* loop, Done done) {
  const absl::Duration left = deadline - absl::Now();
  call.set_timeout_ms(static_cast<uint32_t>(
      std::clamp<int64_t>(absl::ToInt64Milliseconds(left), 1, int64_t{1} << 31)));
  std::shared_ptr<Stream> stream;
  std::shared_ptr<Stream> idle;  // a retired stream with no call left
  bool open = false;
  uint64_t id = 0;
  {
    absl::MutexLock lock(&shared_->mu);
    if (shared_->stream != nullptr && !(shared_->stream->metadata() == metadata)) {
      const Stream* old = shared_->stream.get();
      shared_->retired.push_back(std::move(shared_->stream));
      idle = shared_->IdleRetiredLocked(old);
    }
    if (shared_->stream == nullptr) {
      shared_->stream = std::make_shared<Stream>(shared_, metadata);
      open = true;
    }
    stream = shared_->stream;
    id = shared_->next_id++;
    Shared::Pending& p = shared_->pending[id];
    p.done = std::move(done);
    p.loop = loop;
    p.stream = stream.get();
  }
  call.set_id(id);
  if (idle != nullptr) idle->Break();
  if (open) stream->Open();
  // The timer ends the call if no reply came by the deadline (a replica
  // that stopped answering without closing the connection).
  std::weak_ptr<Shared> weak = shared_;
  const SerialExecutor::TimerId timer = loop->PostAt(deadline, [weak, id] {
    std::shared_ptr<Shared> shared = weak.lock();
    if (shared == nullptr) return;
    std::optional<Shared::Pending> p = shared->Take(id);
    if (p.has_value()) {
      p->done(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no reply in time"), nullptr);
    }
  });
  bool ended = false;
  {
    absl::MutexLock lock(&shared_->mu);
    auto it = shared_->pending.find(id);
    if (it != shared_->pending.end()) {
      it->second.timer = timer;
    } else {
      ended = true;  // answered or broken already
    }
  }
  if (ended && timer != 0) loop->Cancel(timer);
  stream->Send(std::move(call));
  return id;
}

void Pipeline::Cancel(uint64_t id) {
  std::optional<Shared::Pending> p = shared_->Take(id);
  if (p.has_value()) p->done(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"), nullptr);
}

}  // namespace synod::client
