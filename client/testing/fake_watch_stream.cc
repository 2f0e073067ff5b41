#include "client/testing/fake_watch_stream.h"

#include <utility>

namespace synod::client::testing {

FakeWatchStream::FakeWatchStream(server::WatchHub* hub) : hub_(hub) {
  id_ = hub_->OpenStream([this] { Signal(); });
}

FakeWatchStream::~FakeWatchStream() { hub_->CloseStream(id_); }

void FakeWatchStream::Request(const v1::WatchRequest& request) {
  absl::MutexLock lock(&mu_);
  if (request.has_create()) {
    live_.insert(request.create().watch_id());
    hub_->Create(id_, request.create());
  } else if (request.has_cancel()) {
    const uint64_t id = request.cancel().watch_id();
    if (id == 0) {
      live_.clear();
    } else {
      live_.erase(id);
    }
    hub_->Cancel(id_, id);
  }
}

bool FakeWatchStream::WaitReady() {
  absl::MutexLock lock(&ready_mu_);
  auto woken = [this]() ABSL_SHARED_LOCKS_REQUIRED(ready_mu_) { return ready_ || closed_; };
  ready_mu_.Await(absl::Condition(&woken));
  ready_ = false;
  return !closed_;
}

bool FakeWatchStream::Poll(v1::WatchResponse* out) {
  absl::MutexLock lock(&mu_);
  if (!overflow_notices_.empty()) {
    *out = std::move(overflow_notices_.front());
    overflow_notices_.pop_front();
    return true;
  }
  if (!hub_->Poll(id_, out)) return false;
  if (out->canceled()) live_.erase(out->watch_id());
  return true;
}

void FakeWatchStream::Overflow() {
  {
    absl::MutexLock lock(&mu_);
    hub_->Cancel(id_, 0);
    v1::WatchResponse dropped;
    while (hub_->Poll(id_, &dropped)) dropped.Clear();
    for (uint64_t id : live_) {
      v1::WatchResponse notice;
      notice.set_watch_id(id);
      notice.set_canceled(true);
      notice.set_cancel_code(v1::WATCH_OVERFLOW);
      notice.set_cancel_reason("consumer too slow");
      overflow_notices_.push_back(std::move(notice));
    }
    live_.clear();
  }
  Signal();
}

void FakeWatchStream::Close() {
  absl::MutexLock lock(&ready_mu_);
  closed_ = true;
}

void FakeWatchStream::Signal() {
  absl::MutexLock lock(&ready_mu_);
  ready_ = true;
}

}  // namespace synod::client::testing
