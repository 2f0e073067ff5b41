// The etcd driver: etcd v3's KV gRPC service (the minimal proto in etcd/),
// callback API. etcd has no create-if-absent outside a Txn, so kCreate is a
// Put of a key that does not exist yet: the same write, without the check.
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/synod_bench/driver.h"
#include "bench/synod_bench/grpc_common.h"
#include "etcd_kv.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace synod::bench {
namespace {

// Thread: any (gRPC's callback threads call Done).
class EtcdConnection : public Connection {
 public:
  EtcdConnection(const std::string& endpoint, int index, int timeout_ms) : timeout_ms_(timeout_ms) {
    channel_ = OwnConnectionChannel(endpoint, index);
    stub_ = etcdserverpb::KV::NewStub(channel_);
  }

  void Issue(OpKind kind, const std::string& key, const std::string& value,
             Completion* done) override {
    if (kind == OpKind::kWrite || kind == OpKind::kCreate) {
      auto* call = new Call<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(done, timeout_ms_);
      call->req.set_key(key);
      call->req.set_value(value);
      stub_->async()->Put(&call->ctx, &call->req, &call->resp,
                          [call](grpc::Status s) { call->Finish(s, true); });
      return;
    }
    auto* call =
        new Call<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(done, timeout_ms_);
    call->req.set_key(key);
    call->req.set_serializable(kind == OpKind::kReadSerializable);
    stub_->async()->Range(&call->ctx, &call->req, &call->resp,
                          [call](grpc::Status s) { call->Finish(s, call->resp.kvs_size() == 1); });
  }

 private:
  template <typename Req, typename Resp>
  struct Call {
    Call(Completion* d, int timeout_ms) : done(d) { ctx.set_deadline(DeadlineIn(timeout_ms)); }
    // `found`: a read must return the key (a preloaded key missing means the
    // run measured nothing useful).
    void Finish(const grpc::Status& s, bool found) {
      Completion* d = done;
      OpOutcome outcome = OpOutcome::kOk;
      std::string error;
      if (!s.ok()) {
        outcome = OpOutcome::kError;
        error = absl::StrCat("grpc ", s.error_code(), ": ", s.error_message());
      } else if (!found) {
        outcome = OpOutcome::kError;
        error = absl::StrCat("key not found: ", req.key());
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
  std::unique_ptr<etcdserverpb::KV::Stub> stub_;
  const int timeout_ms_;
};

class EtcdDriver : public Driver {
 public:
  explicit EtcdDriver(int timeout_ms) : timeout_ms_(timeout_ms) {}

  absl::Status Prepare(const std::string&) override { return absl::OkStatus(); }

  absl::StatusOr<std::string> FindLeader(const std::vector<std::string>& endpoints) override {
    return control_.FindLeader(
        endpoints, "etcd",
        [](std::shared_ptr<grpc::Channel> ch, grpc::ClientContext* ctx) -> absl::StatusOr<bool> {
          etcdserverpb::StatusResponse st;
          grpc::Status s = etcdserverpb::Maintenance::NewStub(ch)->Status(
              ctx, etcdserverpb::StatusRequest(), &st);
          if (!s.ok()) return absl::UnavailableError(s.error_message());
          return st.leader() != 0 && st.leader() == st.header().member_id();
        });
  }

  absl::StatusOr<std::unique_ptr<Connection>> Connect(const std::string& endpoint,
                                                      int index) override {
    return std::make_unique<EtcdConnection>(endpoint, index, timeout_ms_);
  }

 private:
  const int timeout_ms_;
  ControlChannels control_;
};

}  // namespace

std::unique_ptr<Driver> NewEtcdDriver(int timeout_ms) {
  return std::make_unique<EtcdDriver>(timeout_ms);
}

}  // namespace synod::bench
