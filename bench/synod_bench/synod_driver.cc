// The Synod driver: Synod's Tree and Cluster gRPC services (callback API),
// its Watch stream (persistent watches) and its Session service.
#include <chrono>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

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
  SynodConnection(const std::string& endpoint, int index, int timeout_ms)
      : channel_(OwnConnectionChannel(endpoint, index)),
        stub_(v1::Tree::NewStub(channel_)),
        timeout_ms_(timeout_ms) {}

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


// Session.Open, Create (EPHEMERAL, with the session as its write context),
// Session.Close: the three round trips of a short-lived Synod client.
class SynodSessionClient : public SessionClient {
 public:
  SynodSessionClient(const std::string& endpoint, int index, int timeout_ms)
      : channel_(OwnConnectionChannel(endpoint, index)),
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
  explicit SynodDriver(int timeout_ms) : timeout_ms_(timeout_ms) {}

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
    return std::make_unique<SynodConnection>(endpoint, index, timeout_ms_);
  }

  absl::StatusOr<std::unique_ptr<Watchers>> Watch(const std::string& endpoint, int index,
                                                  const std::string& key,
                                                  const std::vector<int>& ids,
                                                  WatchSink* sink) override {
    // Watch ids on the wire are the watcher ids plus one (etcd 3.4 takes
    // client-chosen ids too).
    auto w = std::make_unique<GrpcWatchers<v1::Watch, v1::WatchRequest, v1::WatchResponse>>(
        OwnConnectionChannel(endpoint, index), sink,
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
    return std::make_unique<SynodSessionClient>(endpoint, index, timeout_ms_);
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
  ControlChannels control_;
};

}  // namespace

std::unique_ptr<Driver> NewSynodDriver(int timeout_ms) {
  return std::make_unique<SynodDriver>(timeout_ms);
}

}  // namespace synod::bench
