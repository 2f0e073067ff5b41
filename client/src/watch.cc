#include "client/src/watch.h"

#include <utility>
#include <vector>

#include "client/src/convert.h"
#include "client/src/reply.h"
#include "grpcpp/support/client_callback.h"
#include "synod/v1/watch.grpc.pb.h"

namespace synod::client {

// One Watch stream to one replica. Start*/RemoveHold run on the loop thread
// (under the manager's mutex, which reactions never take: they only post to
// the loop). The hold keeps the call open until the loop has seen the read
// side end, so the loop never writes to a finished call. Deleted on the loop
// after OnDone.
class WatchStream : public grpc::ClientBidiReactor<v1::WatchRequest, v1::WatchResponse> {
 public:
  WatchStream(WatchManager* owner, std::shared_ptr<Endpoint> ep)
      : owner_(owner), ep_(std::move(ep)) {}

  const std::shared_ptr<Endpoint>& endpoint() const { return ep_; }
  bool can_write() const { return !read_side_done_ && !write_pending_; }

  void Start() {
    // A stream cannot wait for a token: it carries the current one (the
    // calls before it, such as Watch's own Sync, authenticated already).
    AttachMetadata(owner_->core_->credentials().Current(), &ctx_);
    ep_->watch->async()->Watch(&ctx_, this);
    AddHold();
    StartRead(&resp_);
    StartCall();
  }
  void Write(v1::WatchRequest req) {
    write_pending_ = true;
    req_ = std::move(req);
    StartWrite(&req_);
  }
  void Cancel() { ctx_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Post([this] {
        read_side_done_ = true;
        RemoveHold();
      });
      return;
    }
    v1::WatchResponse copy = std::move(resp_);
    resp_.Clear();
    // The next read starts once the loop has handled this response and the
    // callback thread has fewer than kMaxQueuedCallbacks tasks queued: a
    // stream puts at most one response on the loop, and events that user
    // callbacks consume slowly hold the stream (gRPC flow control, then the
    // replica's bounded queue push back) instead of queueing here without
    // bound. The read always comes, so the hold's release is not delayed
    // past the callbacks' backlog.
    Post([this, copy = std::move(copy)] {
      owner_->OnResponse(this, copy);
      owner_->callbacks_->WhenBelow(WatchManager::kMaxQueuedCallbacks,
                                    [this] { StartRead(&resp_); });
    });
  }
  void OnWriteDone(bool /*ok*/) override {
    Post([this] {
      write_pending_ = false;
      owner_->OnWriteDone(this);
    });
  }
  void OnDone(const grpc::Status& /*status*/) override {
    Post([this] {
      owner_->OnStreamDone(this);
      delete this;
    });
  }

 private:
  void Post(SerialExecutor::Task task) { owner_->core_->loop().Post(std::move(task)); }

  WatchManager* const owner_;
  const std::shared_ptr<Endpoint> ep_;
  grpc::ClientContext ctx_;
  v1::WatchRequest req_;
  v1::WatchResponse resp_;
  // Loop thread only.
  bool write_pending_ = false;
  bool read_side_done_ = false;
};

WatchManager::WatchManager(ClientCore* core, SerialExecutor* callbacks)
    : core_(core), callbacks_(callbacks), reconnect_backoff_(core->options().initial_backoff) {}

WatchManager::~WatchManager() = default;

uint64_t WatchManager::Add(std::string path, WatchKind kind, uint64_t start_revision,
                           uint64_t session_id, WatchEventCallback on_event,
                           WatchDoneCallback on_done, CreatedCallback created) {
  uint64_t id;
  {
    absl::ReleasableMutexLock lock(&mu_);
    if (shutting_down_) {
      lock.Release();
      created(absl::CancelledError("client is shutting down"));
      return 0;
    }
    id = next_id_++;
    Entry& e = entries_[id];
    e.path = std::move(path);
    e.kind = kind;
    e.session_id = session_id;
    e.on_event = std::move(on_event);
    e.on_done = std::move(on_done);
    e.created = std::move(created);
    e.from_now = start_revision == 0;
    e.fallback_revision = core_->last_revision();
    e.last_revision = start_revision;
  }
  core_->loop().Post([this, id] {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    if (stream_ != nullptr) {
      if (!it->second.sent) {
        SendCreateLocked(id, it->second);
        FlushLocked();
      }
    } else {
      // The entry is sent with all others once a stream is up.
      EnsureStreamLocked();
    }
  });
  return id;
}

void WatchManager::Cancel(uint64_t id) {
  std::shared_ptr<CallbackGate> gate;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    gate = it->second.gate;
  }
  gate->Close();
  core_->loop().Post([this, id] {
    std::vector<std::function<void()>> run_after;
    {
      absl::MutexLock lock(&mu_);
      auto it = entries_.find(id);
      if (it == entries_.end()) return;
      EndLocked(it, absl::CancelledError("watch cancelled"), &run_after);
      if (stream_ != nullptr) {
        v1::WatchRequest req;
        req.mutable_cancel()->set_watch_id(id);
        outbox_.push_back(std::move(req));
        FlushLocked();
      }
    }
    for (auto& f : run_after) f();
  });
}

void WatchManager::EnsureStreamLocked() {
  if (stream_ != nullptr || shutting_down_ || reconnect_timer_ != 0) return;
  stream_ = new WatchStream(this, core_->endpoints().Current());
  live_.insert(stream_);
  outbox_.clear();
  stream_->Start();
  for (auto& [id, e] : entries_) SendCreateLocked(id, e);
  FlushLocked();
}

void WatchManager::Reconnect() {
  absl::MutexLock lock(&mu_);
  reconnect_timer_ = 0;
  if (!entries_.empty()) EnsureStreamLocked();
}

void WatchManager::SendCreateLocked(uint64_t id, Entry& e) {
  v1::WatchRequest req;
  req.set_accept_batches(true);  // HandleLocked reads WatchResponse.batched
  v1::WatchCreateRequest* c = req.mutable_create();
  c->set_watch_id(id);
  c->set_path(e.path);
  c->set_kind(ToProto(e.kind));
  c->set_session_id(e.session_id);
  if (e.from_now && !e.ever_acked) {
    c->set_start_revision(e.fallback_revision);
    e.skip = 0;
  } else if (e.delivered_at_last > 0) {
    c->set_start_revision(e.last_revision - 1);
    e.skip = e.delivered_at_last;
  } else {
    c->set_start_revision(e.last_revision);
    e.skip = 0;
  }
  e.sent = true;
  outbox_.push_back(std::move(req));
}

void WatchManager::FlushLocked() {
  if (stream_ == nullptr || !stream_->can_write() || outbox_.empty()) return;
  v1::WatchRequest req = std::move(outbox_.front());
  outbox_.pop_front();
  stream_->Write(std::move(req));
}

void WatchManager::OnWriteDone(WatchStream* stream) {
  absl::MutexLock lock(&mu_);
  if (stream == stream_) FlushLocked();
}

void WatchManager::DeliverLocked(Entry& e, const v1::WatchEvent& event) {
  const uint64_t r = event.revision();
  if (r < e.last_revision) return;
  if (r == e.last_revision) {
    if (e.skip > 0) {
      --e.skip;
      return;
    }
    ++e.delivered_at_last;
  } else {
    e.last_revision = r;
    e.delivered_at_last = 1;
    e.skip = 0;
  }
  // Before the callback runs: a read the caller makes after seeing the
  // event asks for at least this revision.
  core_->NoteRevision(r);
  callbacks_->Post([gate = e.gate, cb = e.on_event, ev = FromProto(event)] {
    gate->Run([&] {
      if (cb) cb(ev);
    });
  });
}

void WatchManager::EndLocked(std::map<uint64_t, Entry>::iterator it, absl::Status status,
                             std::vector<std::function<void()>>* run_after) {
  Entry& e = it->second;
  if (!e.ever_acked) {
    run_after->push_back([cb = std::move(e.created), status] { cb(status); });
  } else if (e.on_done) {
    callbacks_->Post([gate = e.gate, cb = std::move(e.on_done), status] {
      gate->Run([&] { cb(status); });
      gate->Close();
    });
  }
  entries_.erase(it);
}

void WatchManager::OnResponse(WatchStream* stream, const v1::WatchResponse& resp) {
  const v1::ResponseHeader& h = resp.header();
  if (core_->endpoints().ReportHeader(*stream->endpoint(), h.member_id(), h.leader_id())) {
    core_->RefreshMembers();
  }
  std::vector<std::function<void()>> run_after;
  {
    absl::MutexLock lock(&mu_);
    if (!HandleLocked(stream, resp, h, &run_after)) return;
    // Responses packed into this one come after it, under its header.
    for (const v1::WatchResponse& more : resp.batched()) {
      if (!HandleLocked(stream, more, h, &run_after)) return;
    }
  }
  for (auto& f : run_after) f();
}

bool WatchManager::HandleLocked(WatchStream* stream, const v1::WatchResponse& resp,
                                const v1::ResponseHeader& h,
                                std::vector<std::function<void()>>* run_after) {
  if (stream != stream_) return false;
  if (resp.watch_id() == 0 && h.code() != v1::OK) {
    // The replica cannot serve watches now: try another.
    core_->endpoints().ReportFailure(*stream->endpoint());
    stream->Cancel();
    return false;
  }
  auto it = entries_.find(resp.watch_id());
  if (it == entries_.end()) return true;  // cancelled by us; late messages
  Entry& e = it->second;
  if (resp.created()) {
    reconnect_backoff_ = core_->options().initial_backoff;
    if (e.from_now && !e.ever_acked) e.last_revision = h.revision();
    if (!e.ever_acked) {
      e.ever_acked = true;
      run_after->push_back([cb = std::move(e.created)] { cb(absl::OkStatus()); });
      e.created = nullptr;
    }
  }
  for (const v1::WatchEvent& ev : resp.events()) DeliverLocked(e, ev);
  if (resp.canceled()) {
    const ErrorCode code = FromProto(resp.cancel_code());
    if (code == ErrorCode::kWatchOverflow) {
      SendCreateLocked(it->first, e);
      FlushLocked();
    } else if (code == ErrorCode::kOk) {
      EndLocked(it, absl::OkStatus(), run_after);
    } else {
      EndLocked(it, SynodError(code, resp.cancel_reason()), run_after);
    }
  }
  return true;
}

void WatchManager::OnStreamDone(WatchStream* stream) {
  absl::MutexLock lock(&mu_);
  live_.erase(stream);
  if (stream != stream_) return;
  stream_ = nullptr;
  outbox_.clear();
  for (auto& [id, e] : entries_) e.sent = false;
  if (shutting_down_ || entries_.empty()) return;
  core_->endpoints().ReportFailure(*stream->endpoint());
  const absl::Duration delay = core_->Jitter(reconnect_backoff_);
  reconnect_backoff_ = core_->NextBackoff(reconnect_backoff_);
  reconnect_timer_ = core_->loop().PostAt(absl::Now() + delay, [this] { Reconnect(); });
}

void WatchManager::Shutdown() {
  std::vector<std::function<void()>> run_after;
  std::vector<std::shared_ptr<CallbackGate>> gates;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    if (reconnect_timer_ != 0) core_->loop().Cancel(reconnect_timer_);
    reconnect_timer_ = 0;
    // Done callbacks are not called: they may capture objects the caller
    // has already destroyed along with the client. Waiting Watch() calls
    // learn.
    for (auto& [id, e] : entries_) {
      gates.push_back(e.gate);
      if (!e.ever_acked) {
        run_after.push_back(
            [cb = std::move(e.created)] { cb(absl::CancelledError("client is shutting down")); });
      }
    }
    entries_.clear();
    for (WatchStream* s : live_) s->Cancel();
    stream_ = nullptr;
  }
  // Outside mu_: a running callback may be calling into the manager.
  for (auto& g : gates) g->Close();
  for (auto& f : run_after) f();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_set<WatchStream*>* live) { return live->empty(); }, &live_));
}

}  // namespace synod::client
