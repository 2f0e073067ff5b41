#include "client/src/session.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/src/convert.h"
#include "client/src/unary_call.h"
#include "grpcpp/support/client_callback.h"
#include "synod/v1/session.grpc.pb.h"

namespace synod::client {

// One KeepAlive stream to one replica. Every Start*/RemoveHold call happens on
// the loop thread; reactions only post to the loop. A hold keeps the call
// open (OnDone cannot run) until the loop has seen the read side end, so the
// loop never writes to a finished call. Deleted on the loop after OnDone.
class KeepAliveStream
    : public grpc::ClientBidiReactor<v1::KeepAliveRequest, v1::KeepAliveResponse> {
 public:
  KeepAliveStream(SessionManager* owner, std::shared_ptr<Endpoint> ep)
      : owner_(owner), ep_(std::move(ep)) {}

  const std::shared_ptr<Endpoint>& endpoint() const { return ep_; }

  // Loop thread.
  void Start(const v1::KeepAliveRequest& first) {
    // The token OpenSession authenticated with (streams cannot wait).
    AttachMetadata(owner_->core_->credentials().Current(), &ctx_);
    ep_->session->async()->KeepAlive(&ctx_, this);
    AddHold();
    StartRead(&resp_);
    StartCall();
    Send(first);
  }
  // Loop thread. A heartbeat is skipped while the previous one is queued.
  void Send(const v1::KeepAliveRequest& req) {
    if (read_side_done_ || write_pending_) return;
    write_pending_ = true;
    req_ = req;
    StartWrite(&req_);
  }
  // Any thread, while the stream is live.
  void Cancel() { ctx_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Post([this] {
        read_side_done_ = true;
        RemoveHold();
      });
      return;
    }
    v1::KeepAliveResponse copy = std::move(resp_);
    resp_.Clear();
    // Post before the next read: its reaction may run on another thread
    // at once, and responses must reach the loop in stream order.
    Post([this, copy = std::move(copy)] { owner_->OnResponse(this, copy); });
    StartRead(&resp_);
  }
  void OnWriteDone(bool /*ok*/) override {
    Post([this] { write_pending_ = false; });
  }
  void OnDone(const grpc::Status& /*status*/) override {
    Post([this] {
      owner_->OnStreamDone(this);
      delete this;
    });
  }

 private:
  void Post(SerialExecutor::Task task) { owner_->core_->loop().Post(std::move(task)); }

  SessionManager* const owner_;
  const std::shared_ptr<Endpoint> ep_;
  grpc::ClientContext ctx_;
  v1::KeepAliveRequest req_;
  v1::KeepAliveResponse resp_;
  // Loop thread only.
  bool write_pending_ = false;
  bool read_side_done_ = false;
};

SessionManager::SessionManager(ClientCore* core, SerialExecutor* callbacks)
    : core_(core), callbacks_(callbacks), reconnect_backoff_(core->options().initial_backoff) {}

SessionManager::~SessionManager() = default;

void SessionManager::Ensure(absl::Time deadline,
                            std::function<void(absl::StatusOr<uint64_t>)> done) {
  {
    absl::ReleasableMutexLock lock(&mu_);
    if (shutting_down_) {
      lock.Release();
      done(absl::CancelledError("client is shutting down"));
      return;
    }
    if (phase_ == Phase::kOpen) {
      const uint64_t id = id_;
      lock.Release();
      done(id);
      return;
    }
    waiters_.push_back(std::move(done));
    if (phase_ == Phase::kOpening) return;
    if (phase_ == Phase::kClosing) {
      // Opened again once the close finishes (see Close).
      return;
    }
    phase_ = Phase::kOpening;
  }
  RpcSpec<v1::OpenSessionRequest, v1::OpenSessionResponse> spec;
  spec.method = [](Endpoint& ep, grpc::ClientContext* ctx, const v1::OpenSessionRequest* req,
                   v1::OpenSessionResponse* resp, std::function<void(grpc::Status)> cb) {
    ep.session->async()->Open(ctx, req, resp, std::move(cb));
  };
  // Retrying an Open can at worst leave an unused session behind, which the
  // server expires after its timeout.
  spec.route = Route::kLeader;
  spec.write = true;
  v1::OpenSessionRequest req;
  req.set_timeout_ms(absl::ToInt64Milliseconds(core_->options().session_timeout));
  StartCall<v1::OpenSessionRequest, v1::OpenSessionResponse>(
      core_, std::move(spec), std::move(req), deadline,
      [this](absl::StatusOr<v1::OpenSessionResponse> resp) { OnOpened(std::move(resp)); });
}

void SessionManager::OnOpened(absl::StatusOr<v1::OpenSessionResponse> resp) {
  std::vector<std::function<void(absl::StatusOr<uint64_t>)>> waiters;
  absl::StatusOr<uint64_t> result;
  {
    absl::MutexLock lock(&mu_);
    waiters.swap(waiters_);
    if (!resp.ok()) {
      phase_ = Phase::kNone;
      result = resp.status();
    } else {
      phase_ = Phase::kOpen;
      id_ = resp->session_id();
      secret_ = resp->secret();
      timeout_ = resp->timeout_ms() > 0 ? absl::Milliseconds(resp->timeout_ms())
                                        : core_->options().session_timeout;
      next_sequence_ = 1;
      outstanding_.clear();
      ++generation_;
      last_ack_ = absl::Now();
      reconnect_backoff_ = core_->options().initial_backoff;
      SetStateLocked(SessionState::kConnected);
      result = id_;
      const uint64_t generation = generation_;
      core_->loop().Post([this, generation] {
        StartStream();
        Tick(generation);
      });
    }
  }
  for (auto& w : waiters) w(result);
}

SessionManager::WriteId SessionManager::NextWrite() {
  absl::MutexLock lock(&mu_);
  if (phase_ != Phase::kOpen) return {};
  const uint64_t sequence = next_sequence_++;
  outstanding_.insert(sequence);
  return {id_, sequence, secret_, *outstanding_.begin()};
}

void SessionManager::WriteDone(const WriteId& id) {
  if (id.session_id == 0) return;
  absl::MutexLock lock(&mu_);
  if (id.session_id == id_) outstanding_.erase(id.sequence);
}

std::string SessionManager::secret() const {
  absl::MutexLock lock(&mu_);
  return phase_ == Phase::kOpen ? secret_ : std::string();
}

uint64_t SessionManager::id() const {
  absl::MutexLock lock(&mu_);
  return phase_ == Phase::kOpen ? id_ : 0;
}

absl::Duration SessionManager::timeout() const {
  absl::MutexLock lock(&mu_);
  return phase_ == Phase::kOpen ? timeout_ : absl::ZeroDuration();
}

SessionState SessionManager::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

void SessionManager::SetStateLocked(SessionState state) {
  if (state_ == state) return;
  state_ = state;
  const uint64_t id = id_;
  callbacks_->Post([this, state, id] {
    std::vector<Listener> listeners;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [key, l] : listeners_) listeners.push_back(l);
    }
    for (const Listener& l : listeners) l.gate->Run([&] { l.fn(state, id); });
  });
}

int SessionManager::AddListener(SessionListener listener) {
  absl::MutexLock lock(&mu_);
  const int id = next_listener_++;
  listeners_.emplace(id, Listener{std::move(listener), std::make_shared<CallbackGate>()});
  return id;
}

void SessionManager::RemoveListener(int id) {
  std::shared_ptr<CallbackGate> gate;
  {
    absl::MutexLock lock(&mu_);
    auto it = listeners_.find(id);
    if (it == listeners_.end()) return;
    gate = it->second.gate;
    listeners_.erase(it);
  }
  gate->Close();
}

void SessionManager::DropListeners() {
  std::map<int, Listener> dropped;
  {
    absl::MutexLock lock(&mu_);
    dropped.swap(listeners_);
  }
  for (auto& [id, l] : dropped) l.gate->Close();
}

void SessionManager::StartStream() {
  KeepAliveStream* stream;
  v1::KeepAliveRequest first;
  {
    absl::MutexLock lock(&mu_);
    if (phase_ != Phase::kOpen || shutting_down_ || stream_ != nullptr) return;
    reconnect_timer_ = 0;
    stream = new KeepAliveStream(this, core_->endpoints().Current());
    stream_ = stream;
    live_.insert(stream);
    stream_started_ = absl::Now();
    first.set_session_id(id_);
    first.set_secret(secret_);
  }
  stream->Start(first);
}

void SessionManager::Tick(uint64_t generation) {
  KeepAliveStream* stream = nullptr;
  v1::KeepAliveRequest req;
  {
    absl::MutexLock lock(&mu_);
    if (phase_ != Phase::kOpen || generation != generation_ || shutting_down_) return;
    const absl::Time now = absl::Now();
    if (now - last_ack_ > timeout_) {
      ExpireLocked(absl::StrCat("no heartbeat acknowledged for ", absl::FormatDuration(timeout_)));
      return;
    }
    if (stream_ != nullptr && now - std::max(last_ack_, stream_started_) > timeout_ / 2) {
      // Silent replica (partitioned, or stuck): try another one.
      core_->endpoints().ReportFailure(*stream_->endpoint());
      CancelStreamLocked();
    } else if (stream_ != nullptr) {
      stream = stream_;
      req.set_session_id(id_);
      req.set_secret(secret_);
    }
    tick_timer_ = core_->loop().PostAt(now + std::max(timeout_ / 4, absl::Milliseconds(10)),
                                       [this, generation] { Tick(generation); });
  }
  // The stream cannot finish before the loop processes its OnDone, which
  // comes after this task: `stream` is alive.
  if (stream != nullptr) stream->Send(req);
}

void SessionManager::OnResponse(KeepAliveStream* stream, const v1::KeepAliveResponse& resp) {
  const v1::ResponseHeader& h = resp.header();
  if (core_->endpoints().ReportHeader(*stream->endpoint(), h.member_id(), h.leader_id())) {
    core_->RefreshMembers();
  }
  absl::MutexLock lock(&mu_);
  if (stream != stream_ || phase_ != Phase::kOpen) return;
  switch (h.code()) {
    case v1::OK:
      last_ack_ = absl::Now();
      reconnect_backoff_ = core_->options().initial_backoff;
      if (resp.timeout_ms() > 0) timeout_ = absl::Milliseconds(resp.timeout_ms());
      SetStateLocked(SessionState::kConnected);
      return;
    case v1::SESSION_EXPIRED:
    case v1::AUTH_FAILED:
      ExpireLocked(absl::StrCat(v1::ErrorCode_Name(h.code()), ": ", h.message()));
      return;
    default:
      // The replica cannot renew sessions now (no leader, partitioned).
      core_->endpoints().ReportFailure(*stream->endpoint());
      CancelStreamLocked();
      return;
  }
}

void SessionManager::OnStreamDone(KeepAliveStream* stream) {
  absl::MutexLock lock(&mu_);
  live_.erase(stream);
  if (stream != stream_) return;
  stream_ = nullptr;
  if (phase_ != Phase::kOpen || shutting_down_) return;
  core_->endpoints().ReportFailure(*stream->endpoint());
  SetStateLocked(SessionState::kSuspended);
  const absl::Duration delay = core_->Jitter(reconnect_backoff_);
  reconnect_backoff_ = core_->NextBackoff(reconnect_backoff_);
  reconnect_timer_ = core_->loop().PostAt(absl::Now() + delay, [this] { StartStream(); });
}

void SessionManager::CancelStreamLocked() {
  // The stream stays in live_ until the loop processes its OnDone, so it
  // is alive here.
  if (stream_ != nullptr) stream_->Cancel();
}

void SessionManager::ExpireLocked(const std::string& /*reason*/) {
  const uint64_t id = id_;
  const std::string secret = secret_;
  CancelStreamLocked();
  stream_ = nullptr;
  if (reconnect_timer_ != 0) core_->loop().Cancel(reconnect_timer_);
  reconnect_timer_ = 0;
  phase_ = Phase::kNone;
  SetStateLocked(SessionState::kExpired);
  id_ = 0;
  secret_.clear();
  // Best effort: if the server still has it, its ephemerals go now rather
  // than at its expiry, so whoever waits on them (a lock) moves on sooner.
  CloseRemote(id, secret, absl::Now() + core_->options().attempt_timeout, [](absl::Status) {});
}

void SessionManager::CloseRemote(uint64_t id, std::string secret, absl::Time deadline,
                                 std::function<void(absl::Status)> done) {
  RpcSpec<v1::CloseSessionRequest, v1::CloseSessionResponse> spec;
  spec.method = [](Endpoint& ep, grpc::ClientContext* ctx, const v1::CloseSessionRequest* req,
                   v1::CloseSessionResponse* resp, std::function<void(grpc::Status)> cb) {
    ep.session->async()->Close(ctx, req, resp, std::move(cb));
  };
  spec.route = Route::kLeader;
  spec.write = true;
  v1::CloseSessionRequest req;
  req.set_session_id(id);
  req.set_secret(std::move(secret));
  StartCall<v1::CloseSessionRequest, v1::CloseSessionResponse>(
      core_, std::move(spec), std::move(req), deadline,
      [done = std::move(done)](absl::StatusOr<v1::CloseSessionResponse> resp) {
        // A retried Close finds the session gone: that is success.
        if (!resp.ok() && ErrorCodeOf(resp.status()) == ErrorCode::kSessionExpired) {
          done(absl::OkStatus());
          return;
        }
        done(resp.status());
      });
}

absl::Status SessionManager::Close(absl::Time deadline) {
  uint64_t id;
  std::string secret;
  {
    absl::MutexLock lock(&mu_);
    if (phase_ != Phase::kOpen) return absl::OkStatus();
    phase_ = Phase::kClosing;
    id = id_;
    secret = secret_;
    CancelStreamLocked();
    stream_ = nullptr;
    if (reconnect_timer_ != 0) core_->loop().Cancel(reconnect_timer_);
    reconnect_timer_ = 0;
  }
  absl::Notification closed;
  absl::Status status;
  CloseRemote(id, secret, deadline, [&](absl::Status s) {
    status = std::move(s);
    closed.Notify();
  });
  closed.WaitForNotification();
  bool reopen;
  {
    absl::MutexLock lock(&mu_);
    phase_ = Phase::kNone;
    id_ = 0;
    secret_.clear();
    SetStateLocked(SessionState::kClosed);
    reopen = !waiters_.empty() && !shutting_down_;
  }
  if (reopen) {
    // Callers asked for a session while it was closing: open a new one.
    Ensure(deadline, [](absl::StatusOr<uint64_t>) {});
  }
  return status;
}

void SessionManager::Shutdown() {
  absl::ReleasableMutexLock lock(&mu_);
  shutting_down_ = true;
  if (tick_timer_ != 0) core_->loop().Cancel(tick_timer_);
  if (reconnect_timer_ != 0) core_->loop().Cancel(reconnect_timer_);
  tick_timer_ = reconnect_timer_ = 0;
  for (KeepAliveStream* s : live_) s->Cancel();
  stream_ = nullptr;
  std::vector<std::function<void(absl::StatusOr<uint64_t>)>> waiters;
  waiters.swap(waiters_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_set<KeepAliveStream*>* live) { return live->empty(); }, &live_));
  lock.Release();
  for (auto& w : waiters) w(absl::CancelledError("client is shutting down"));
}

}  // namespace synod::client
