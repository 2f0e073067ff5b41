// The Synod driver: Synod's Tree and Cluster gRPC services (callback API),
// its Watch stream (persistent watches) and its Session service.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/synod_bench/driver.h"
#include "bench/synod_bench/grpc_common.h"
#include "bench/synod_bench/grpc_watchers.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "synod/v1/session.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"
#include "synod/v1/watch.grpc.pb.h"

namespace synod::bench {

// Synod packs the responses queued for a stream into one message
// (WatchResponse.batched) once the stream asks for it.
template <>
struct CarriedResponses<v1::WatchResponse> {
  template <typename F>
  static void ForEach(const v1::WatchResponse& resp, F&& f) {
    f(resp);
    for (const v1::WatchResponse& more : resp.batched()) f(more);
  }
};

namespace {

// Thread: any (gRPC's callback threads call Done). Each call owns its
// request/response until its callback runs.
class SynodConnection : public Connection {
 public:
  SynodConnection(std::shared_ptr<grpc::Channel> channel, int timeout_ms)
      : channel_(std::move(channel)), stub_(v1::Tree::NewStub(channel_)), timeout_ms_(timeout_ms) {}

  void Issue(OpKind kind, const std::string& key, const std::string& value,
             Completion* done) override {
    switch (kind) {
      case OpKind::kWrite: {
        auto* call = new Call<v1::SetRequest, v1::SetResponse>(done, timeout_ms_);
        call->req.mutable_op()->set_path(key);
        call->req.mutable_op()->set_data(value);
        stub_->async()->Set(&call->ctx, &call->req, &call->resp,
                            [call](grpc::Status s) { call->Finish(s); });
        return;
      }
      case OpKind::kCreate: {
        auto* call = new Call<v1::CreateRequest, v1::CreateResponse>(done, timeout_ms_);
        call->req.mutable_op()->set_path(key);
        call->req.mutable_op()->set_data(value);
        stub_->async()->Create(&call->ctx, &call->req, &call->resp,
                               [call](grpc::Status s) { call->Finish(s); });
        return;
      }
      case OpKind::kReadLinearizable:
      case OpKind::kReadSerializable: {
        auto* call = new Call<v1::GetRequest, v1::GetResponse>(done, timeout_ms_);
        call->req.set_path(key);
        call->req.mutable_read()->set_consistency(
            kind == OpKind::kReadSerializable ? v1::SERIALIZABLE : v1::LINEARIZABLE);
        stub_->async()->Get(&call->ctx, &call->req, &call->resp,
                            [call](grpc::Status s) { call->Finish(s); });
        return;
      }
    }
  }

 private:
  template <typename Req, typename Resp>
  struct Call {
    Call(Completion* d, int timeout_ms) : done(d) { ctx.set_deadline(DeadlineIn(timeout_ms)); }
    void Finish(const grpc::Status& s) {
      Completion* d = done;
      OpOutcome outcome = OpOutcome::kOk;
      std::string error;
      if (!s.ok()) {
        outcome = s.error_code() == grpc::StatusCode::ALREADY_EXISTS ? OpOutcome::kExists
                                                                     : OpOutcome::kError;
        error = absl::StrCat("grpc ", s.error_code(), ": ", s.error_message());
      }
      delete this;  // before Done: Done may issue the next op on this slot
      d->Done(outcome, error);
    }
    Completion* done;
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
  };

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Tree::Stub> stub_;
  const int timeout_ms_;
};

// The same calls on one Tree.Pipeline stream: calls issued while a write is
// in flight, or by the completions of one reply message, leave together in
// the next message, and the replica packs the replies that are ready
// together. The client library sends its tree calls on the same stream.
//
// Thread: Issue from any thread; gRPC's callback threads run the
// reactions. mu_ guards the outgoing queue and the calls in flight; Done is
// told outside it (it issues the next call).
class SynodPipelineConnection
    : public Connection,
      public grpc::ClientBidiReactor<v1::PipelineRequest, v1::PipelineResponse> {
 public:
  SynodPipelineConnection(std::shared_ptr<grpc::Channel> channel, int timeout_ms)
      : channel_(std::move(channel)), stub_(v1::Tree::NewStub(channel_)), timeout_ms_(timeout_ms) {
    stub_->async()->Pipeline(&ctx_, this);
    StartRead(&in_);
    StartCall();
  }

  // Ends the stream; calls still in flight are told it broke.
  ~SynodPipelineConnection() override {
    ctx_.TryCancel();
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return done_; });
  }

  void Issue(OpKind kind, const std::string& key, const std::string& value,
             Completion* done) override {
    bool write = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (broken_) {
        lock.unlock();
        done->Done(OpOutcome::kError, "pipeline stream broken");
        return;
      }
      const uint64_t id = next_id_++;
      v1::PipelineCall* call = queued_.add_calls();
      call->set_id(id);
      call->set_timeout_ms(static_cast<uint32_t>(timeout_ms_));
      switch (kind) {
        case OpKind::kWrite:
          call->mutable_set()->mutable_op()->set_path(key);
          call->mutable_set()->mutable_op()->set_data(value);
          break;
        case OpKind::kCreate:
          call->mutable_create()->mutable_op()->set_path(key);
          call->mutable_create()->mutable_op()->set_data(value);
          break;
        case OpKind::kReadLinearizable:
        case OpKind::kReadSerializable:
          call->mutable_get()->set_path(key);
          call->mutable_get()->mutable_read()->set_consistency(
              kind == OpKind::kReadSerializable ? v1::SERIALIZABLE : v1::LINEARIZABLE);
          break;
      }
      in_flight_.emplace(id, done);
      write = TakeQueuedLocked();
    }
    if (write) StartWrite(&out_);
  }

  void OnWriteDone(bool ok) override {
    bool write = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (ok) write = TakeQueuedLocked();
    }
    if (write) StartWrite(&out_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    std::vector<std::pair<Completion*, const v1::PipelineReply*>> answered;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // The calls these completions issue leave in one message, after all
      // of them (below), not the first alone and the rest behind it.
      corked_ = true;
      for (const v1::PipelineReply& r : in_.replies()) {
        auto it = in_flight_.find(r.id());
        if (it == in_flight_.end()) continue;
        answered.emplace_back(it->second, &r);
        in_flight_.erase(it);
      }
    }
    for (const auto& [done, r] : answered) {
      OpOutcome outcome = OpOutcome::kOk;
      std::string error;
      if (r->status_code() != 0) {
        outcome = r->status_code() == static_cast<int>(grpc::StatusCode::ALREADY_EXISTS)
                      ? OpOutcome::kExists
                      : OpOutcome::kError;
        error = absl::StrCat("grpc ", r->status_code(), ": ", r->status_message());
      }
      done->Done(outcome, error);
    }
    bool write = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      corked_ = false;
      write = TakeQueuedLocked();
    }
    if (write) StartWrite(&out_);
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& s) override {
    std::map<uint64_t, Completion*> lost;
    {
      std::lock_guard<std::mutex> lock(mu_);
      broken_ = true;
      lost.swap(in_flight_);
    }
    const std::string error =
        absl::StrCat("pipeline stream ended: grpc ", s.error_code(), ": ", s.error_message());
    for (const auto& [id, done] : lost) done->Done(OpOutcome::kError, error);
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    done_cv_.notify_all();
  }

 private:
  // Moves the queued calls into out_ if no write is in flight; true if the
  // caller must start that write (outside mu_).
  bool TakeQueuedLocked() {
    if (writing_ || corked_ || broken_ || queued_.calls_size() == 0) return false;
    out_.Clear();
    out_.Swap(&queued_);
    writing_ = true;
    return true;
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Tree::Stub> stub_;
  const int timeout_ms_;
  grpc::ClientContext ctx_;
  v1::PipelineResponse in_;  // owned by the read in flight

  std::mutex mu_;
  std::condition_variable done_cv_;
  v1::PipelineRequest queued_;  // calls waiting for the write in flight
  v1::PipelineRequest out_;     // owned by the write in flight while writing_
  bool writing_ = false;
  bool corked_ = false;  // completions of a reply message are running
  bool broken_ = false;
  bool done_ = false;  // OnDone ran
  uint64_t next_id_ = 1;
  std::map<uint64_t, Completion*> in_flight_;
};

// Session.Open, Create (EPHEMERAL, with the session as its write context),
// Session.Close: the three round trips of a short-lived Synod client.
class SynodSessionClient : public SessionClient {
 public:
  SynodSessionClient(std::shared_ptr<grpc::Channel> channel, int timeout_ms)
      : channel_(std::move(channel)),
        sessions_(v1::Session::NewStub(channel_)),
        tree_(v1::Tree::NewStub(channel_)),
        timeout_ms_(timeout_ms) {}

  absl::Status Cycle(const std::string& key, const std::string& value) override {
    v1::OpenSessionRequest open;
    open.set_timeout_ms(timeout_ms_);
    v1::OpenSessionResponse opened;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(timeout_ms_));
      grpc::Status s = sessions_->Open(&ctx, open, &opened);
      if (!s.ok()) return CallError("open session", s);
    }
    v1::CreateRequest create;
    create.mutable_op()->set_path(key);
    create.mutable_op()->set_data(value);
    create.mutable_op()->set_mode(v1::EPHEMERAL);
    create.mutable_write()->set_session_id(opened.session_id());
    create.mutable_write()->set_sequence(1);
    create.mutable_write()->set_session_secret(opened.secret());
    v1::CreateResponse created;
    grpc::Status create_status;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(timeout_ms_));
      create_status = tree_->Create(&ctx, create, &created);
    }
    // Closed even if the create failed: an open session would hold on to
    // whatever it did create until it timed out.
    v1::CloseSessionRequest close;
    close.set_session_id(opened.session_id());
    close.set_secret(opened.secret());
    v1::CloseSessionResponse closed;
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(timeout_ms_));
    grpc::Status close_status = sessions_->Close(&ctx, close, &closed);
    if (!create_status.ok()) return CallError("create ephemeral", create_status);
    if (!close_status.ok()) return CallError("close session", close_status);
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Session::Stub> sessions_;
  std::unique_ptr<v1::Tree::Stub> tree_;
  const int timeout_ms_;
};

class SynodDriver : public Driver {
 public:
  SynodDriver(int timeout_ms, bool pipeline, std::shared_ptr<grpc::ChannelCredentials> creds)
      : timeout_ms_(timeout_ms), pipeline_(pipeline), creds_(creds), control_(creds) {}

  absl::Status Prepare(const std::string& endpoint) override {
    auto stub = v1::Tree::NewStub(control_.Channel(endpoint));
    for (const char* path : {"/bench", kWatchKey, kChurnParent}) {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(timeout_ms_));
      v1::CreateRequest req;
      req.mutable_op()->set_path(path);
      v1::CreateResponse resp;
      grpc::Status s = stub->Create(&ctx, req, &resp);
      if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
        return absl::UnavailableError(
            absl::StrCat("create ", path, " at ", endpoint, ": ", s.error_message()));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> FindLeader(const std::vector<std::string>& endpoints) override {
    return control_.FindLeader(
        endpoints, "Synod",
        [](std::shared_ptr<grpc::Channel> ch, grpc::ClientContext* ctx) -> absl::StatusOr<bool> {
          v1::StatusResponse st;
          grpc::Status s = v1::Cluster::NewStub(ch)->Status(ctx, v1::StatusRequest(), &st);
          if (!s.ok()) return absl::UnavailableError(s.error_message());
          return st.role() == v1::ROLE_LEADER;
        });
  }

  absl::StatusOr<std::unique_ptr<Connection>> Connect(const std::string& endpoint,
                                                      int index) override {
    auto channel = OwnConnectionChannel(endpoint, index, creds_);
    if (pipeline_) return std::make_unique<SynodPipelineConnection>(channel, timeout_ms_);
    return std::make_unique<SynodConnection>(channel, timeout_ms_);
  }

  absl::StatusOr<std::unique_ptr<Watchers>> Watch(const std::string& endpoint, int index,
                                                  const std::string& key,
                                                  const std::vector<int>& ids,
                                                  WatchSink* sink) override {
    // Watch ids on the wire are the watcher ids plus one (etcd 3.4 takes
    // client-chosen ids too).
    auto w = std::make_unique<GrpcWatchers<v1::Watch, v1::WatchRequest, v1::WatchResponse>>(
        OwnConnectionChannel(endpoint, index, creds_), sink,
        [](const std::string& key, uint64_t watch_id) {
          v1::WatchRequest req;
          req.set_accept_batches(true);  // CarriedResponses<v1::WatchResponse>
          req.mutable_create()->set_watch_id(watch_id);
          req.mutable_create()->set_path(key);
          req.mutable_create()->set_kind(v1::WATCH_PERSISTENT);
          return req;
        });
    if (absl::Status s = w->Start(key, ids); !s.ok()) return s;
    return w;
  }

  absl::StatusOr<std::unique_ptr<SessionClient>> NewSessionClient(const std::string& endpoint,
                                                                  int index) override {
    return std::make_unique<SynodSessionClient>(OwnConnectionChannel(endpoint, index, creds_),
                                                timeout_ms_);
  }

  absl::StatusOr<int64_t> CountChildren(const std::string& endpoint,
                                        const std::string& parent) override {
    auto stub = v1::Tree::NewStub(control_.Channel(endpoint));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(timeout_ms_));
    v1::ExistsRequest req;
    req.set_path(parent);
    req.mutable_read()->set_consistency(v1::LINEARIZABLE);
    v1::ExistsResponse resp;
    grpc::Status s = stub->Exists(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::UnavailableError(absl::StrCat("exists ", parent, ": ", s.error_message()));
    }
    return resp.stat().num_children();
  }

 private:
  const int timeout_ms_;
  const bool pipeline_;
  const std::shared_ptr<grpc::ChannelCredentials> creds_;  // null: plaintext
  ControlChannels control_;
};

}  // namespace

std::unique_ptr<Driver> NewSynodDriver(int timeout_ms, bool pipeline, const TlsPems& tls) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (!tls.ca.empty()) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = tls.ca;
    o.pem_cert_chain = tls.cert;
    o.pem_private_key = tls.key;
    creds = grpc::SslCredentials(o);
  }
  return std::make_unique<SynodDriver>(timeout_ms, pipeline, std::move(creds));
}

}  // namespace synod::bench
