// The Synod driver: Synod's Tree and Cluster gRPC services, callback API.
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/synod_bench/driver.h"
#include "bench/synod_bench/grpc_common.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"

namespace synod::bench {
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

class SynodDriver : public Driver {
 public:
  explicit SynodDriver(int timeout_ms) : timeout_ms_(timeout_ms) {}

  absl::Status Prepare(const std::string& endpoint) override {
    auto stub = v1::Tree::NewStub(control_.Channel(endpoint));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(timeout_ms_));
    v1::CreateRequest req;
    req.mutable_op()->set_path("/bench");
    v1::CreateResponse resp;
    grpc::Status s = stub->Create(&ctx, req, &resp);
    if (s.ok() || s.error_code() == grpc::StatusCode::ALREADY_EXISTS) return absl::OkStatus();
    return absl::UnavailableError(
        absl::StrCat("create /bench at ", endpoint, ": ", s.error_message()));
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

 private:
  const int timeout_ms_;
  ControlChannels control_;
};

}  // namespace

std::unique_ptr<Driver> NewSynodDriver(int timeout_ms) {
  return std::make_unique<SynodDriver>(timeout_ms);
}

}  // namespace synod::bench
