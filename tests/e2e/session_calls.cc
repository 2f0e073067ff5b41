#include "tests/e2e/session_calls.h"

#include <utility>

#include "absl/time/clock.h"
#include "tests/e2e/test_cluster.h"

namespace synod::e2e {

v1::OpenSessionResponse OpenSession(const std::shared_ptr<grpc::Channel>& channel,
                                    int64_t timeout_ms, absl::Duration timeout) {
  auto stub = v1::Session::NewStub(channel);
  const absl::Time deadline = absl::Now() + timeout;
  v1::OpenSessionResponse response;
  while (true) {
    v1::OpenSessionRequest request;
    request.set_timeout_ms(timeout_ms);
    response.Clear();
    grpc::Status status = stub->Open(Ctx(absl::Seconds(5)).get(), request, &response);
    *response.mutable_header() = HeaderOf(status, response.header());
    const v1::ErrorCode code = response.header().code();
    if ((code != v1::UNAVAILABLE && code != v1::NOT_LEADER) || absl::Now() > deadline) {
      return response;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

Heartbeater::Heartbeater(std::shared_ptr<grpc::Channel> channel, uint64_t session_id,
                         std::string secret, absl::Duration period)
    : channel_(std::move(channel)),
      session_id_(session_id),
      secret_(std::move(secret)),
      period_(period) {
  thread_ = std::thread([this] { Loop(); });
}

Heartbeater::~Heartbeater() { Stop(); }

void Heartbeater::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (current_ != nullptr) current_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void Heartbeater::Loop() {
  auto stub = v1::Session::NewStub(channel_);
  while (true) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      current_ = &context;
    }
    auto stream = stub->KeepAlive(&context);
    while (true) {
      v1::KeepAliveRequest beat;
      beat.set_session_id(session_id_);
      beat.set_secret(secret_);
      v1::KeepAliveResponse reply;
      if (!stream->Write(beat) || !stream->Read(&reply)) break;
      if (reply.header().code() == v1::OK) {
        ++ok_;
      } else {
        ++refused_;
        last_refusal_ = reply.header().code();
      }
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), period_)) break;
    }
    context.TryCancel();
    stream->Finish().IgnoreError();  // a broken or canceled stream: reopen or stop
    absl::MutexLock lock(&mu_);
    current_ = nullptr;
    auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
    // The replica may be down: try again soon, not in a busy loop.
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Milliseconds(100))) return;
  }
}

WatchStream::WatchStream(const std::shared_ptr<grpc::Channel>& channel, absl::Duration lifetime)
    : stub_(v1::Watch::NewStub(channel)) {
  context_.set_deadline(absl::ToChronoTime(absl::Now() + lifetime));
  stream_ = stub_->Watch(&context_);
  reader_ = std::thread([this] { ReadLoop(); });
}

WatchStream::~WatchStream() { Close(); }

void WatchStream::Close() {
  context_.TryCancel();
  if (reader_.joinable()) {
    reader_.join();
    stream_->Finish().IgnoreError();  // canceled on purpose
  }
}

bool WatchStream::ended() {
  absl::MutexLock lock(&mu_);
  return ended_;
}

void WatchStream::ReadLoop() {
  v1::WatchResponse response;
  while (stream_->Read(&response)) {
    absl::MutexLock lock(&mu_);
    WatchLog& log = logs_[response.watch_id()];
    if (response.created()) log.created = true;
    if (response.events_size() > 0) ++log.responses_with_events;
    for (const v1::WatchEvent& e : response.events()) log.events.push_back(e);
    if (response.canceled()) log.canceled = response;
  }
  absl::MutexLock lock(&mu_);
  ended_ = true;
}

bool WatchStream::Create(uint64_t watch_id, const std::string& path, v1::WatchKind kind,
                         uint64_t start_revision) {
  v1::WatchRequest request;
  v1::WatchCreateRequest* create = request.mutable_create();
  create->set_watch_id(watch_id);
  create->set_path(path);
  create->set_kind(kind);
  create->set_start_revision(start_revision);
  absl::MutexLock lock(&write_mu_);
  return stream_->Write(request);
}

bool WatchStream::WaitFor(const std::function<bool(const std::map<uint64_t, WatchLog>&)>& condition,
                          absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto holds = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return ended_ || condition(logs_); };
  mu_.AwaitWithTimeout(absl::Condition(&holds), timeout);
  return condition(logs_);
}

bool WatchStream::WaitCreated(uint64_t first, uint64_t last, absl::Duration timeout) {
  return WaitFor(
      [&](const std::map<uint64_t, WatchLog>& logs) {
        for (uint64_t id = first; id <= last; ++id) {
          auto it = logs.find(id);
          if (it == logs.end() || (!it->second.created && !it->second.canceled)) return false;
        }
        return true;
      },
      timeout);
}

bool WatchStream::WaitForRevision(uint64_t id, uint64_t revision, absl::Duration timeout) {
  return WaitFor(
      [&](const std::map<uint64_t, WatchLog>& logs) {
        auto it = logs.find(id);
        return it != logs.end() && !it->second.events.empty() &&
               it->second.events.back().revision() >= revision;
      },
      timeout);
}

WatchStream::WatchLog WatchStream::Log(uint64_t watch_id) {
  absl::MutexLock lock(&mu_);
  auto it = logs_.find(watch_id);
  return it == logs_.end() ? WatchLog() : it->second;
}

}  // namespace synod::e2e
