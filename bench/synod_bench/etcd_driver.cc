// The etcd driver: etcd v3's KV gRPC service (the minimal proto in etcd/),
// callback API. etcd has no create-if-absent outside a Txn, so kCreate is a
// Put of a key that does not exist yet: the same write, without the check.
// Watches are etcd's Watch stream (they stay until canceled); etcd's
// session is a lease: a session cycle is LeaseGrant, Put with the lease,
// LeaseRevoke (which deletes the key).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/synod_bench/driver.h"
#include "bench/synod_bench/grpc_common.h"
#include "bench/synod_bench/grpc_watchers.h"
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


class EtcdSessionClient : public SessionClient {
 public:
  EtcdSessionClient(const std::string& endpoint, int index, int timeout_ms)
      : channel_(OwnConnectionChannel(endpoint, index)),
        leases_(etcdserverpb::Lease::NewStub(channel_)),
        kv_(etcdserverpb::KV::NewStub(channel_)),
        timeout_ms_(timeout_ms) {}

  absl::Status Cycle(const std::string& key, const std::string& value) override {
    etcdserverpb::LeaseGrantRequest grant;
    // The session timeout of the other systems, in etcd's whole seconds.
    grant.set_ttl(std::max(1, (timeout_ms_ + 999) / 1000));
    etcdserverpb::LeaseGrantResponse granted;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(timeout_ms_));
      grpc::Status s = leases_->LeaseGrant(&ctx, grant, &granted);
      if (!s.ok()) return CallError("lease grant", s);
      if (!granted.error().empty()) {
        return absl::UnavailableError(absl::StrCat("lease grant: ", granted.error()));
      }
    }
    etcdserverpb::PutRequest put;
    put.set_key(key);
    put.set_value(value);
    put.set_lease(granted.id());
    etcdserverpb::PutResponse put_resp;
    grpc::Status put_status;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(timeout_ms_));
      put_status = kv_->Put(&ctx, put, &put_resp);
    }
    // Revoked even if the put failed, as a closed session would be.
    etcdserverpb::LeaseRevokeRequest revoke;
    revoke.set_id(granted.id());
    etcdserverpb::LeaseRevokeResponse revoked;
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(timeout_ms_));
    grpc::Status revoke_status = leases_->LeaseRevoke(&ctx, revoke, &revoked);
    if (!put_status.ok()) return CallError("put with lease", put_status);
    if (!revoke_status.ok()) return CallError("lease revoke", revoke_status);
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::Lease::Stub> leases_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
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

  absl::StatusOr<std::unique_ptr<Watchers>> Watch(const std::string& endpoint, int index,
                                                  const std::string& key,
                                                  const std::vector<int>& ids,
                                                  WatchSink* sink) override {
    // Watch ids on the wire are the watcher ids plus one (etcd 3.4 takes
    // client-chosen ids too).
    auto w = std::make_unique<GrpcWatchers<etcdserverpb::Watch, etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>(
        OwnConnectionChannel(endpoint, index), sink,
        [](const std::string& key, uint64_t watch_id) {
          etcdserverpb::WatchRequest req;
          req.mutable_create_request()->set_key(key);
          req.mutable_create_request()->set_watch_id(static_cast<int64_t>(watch_id));
          return req;
        });
    if (absl::Status s = w->Start(key, ids); !s.ok()) return s;
    return w;
  }

  absl::StatusOr<std::unique_ptr<SessionClient>> NewSessionClient(const std::string& endpoint,
                                                                  int index) override {
    return std::make_unique<EtcdSessionClient>(endpoint, index, timeout_ms_);
  }

  // etcd's keys are flat: the "children" are the keys prefixed parent + "/".
  absl::StatusOr<int64_t> CountChildren(const std::string& endpoint,
                                        const std::string& parent) override {
    auto stub = etcdserverpb::KV::NewStub(control_.Channel(endpoint));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(timeout_ms_));
    etcdserverpb::RangeRequest req;
    req.set_key(parent + "/");
    req.set_range_end(parent + "0");  // '0' follows '/'
    req.set_count_only(true);
    etcdserverpb::RangeResponse resp;
    grpc::Status s = stub->Range(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::UnavailableError(absl::StrCat("count ", parent, "/: ", s.error_message()));
    }
    return resp.count();
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
