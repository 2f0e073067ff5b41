// FakeReplica: one of FakeCluster's replicas, a gRPC server with the Tree,
// Session, Watch and Cluster services. It is the fake's transport layer:
// it turns each request into the Command the server's services build and
// hands it to the shared FakeState, reads through the state's TreeStore,
// connects Watch streams to the state's WatchHub, and answers in the
// ResponseHeader / gRPC status shape the server uses (or another
// FakeCluster::ErrorStyle). The test controls live here too: injected
// failures, hangs, delays, leader and membership, broken streams.
//
// Thread-safety: gRPC handlers run on the server's threads; the state and
// the shared FakeControl lock themselves.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/fake_state.h"
#include "grpcpp/grpcpp.h"
#include "synod/v1/auth.grpc.pb.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "synod/v1/session.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"
#include "synod/v1/watch.grpc.pb.h"

namespace synod::client::testing {

// Fault switches and observations, shared by the replicas.
struct FakeControl {
  absl::Mutex mu;
  uint64_t leader ABSL_GUARDED_BY(mu) = 0;
  std::map<std::pair<uint64_t, std::string>, std::pair<int, ErrorCode>> fail_next
      ABSL_GUARDED_BY(mu);
  std::map<std::pair<uint64_t, std::string>, std::pair<int, ErrorCode>> fail_after
      ABSL_GUARDED_BY(mu);
  std::set<std::pair<uint64_t, std::string>> hung ABSL_GUARDED_BY(mu);
  absl::Duration delay ABSL_GUARDED_BY(mu);  // before every answer of a delayed method
  std::set<std::string> delayed ABSL_GUARDED_BY(mu);
  std::map<std::pair<uint64_t, std::string>, int> calls ABSL_GUARDED_BY(mu);
  std::map<std::string, std::vector<std::string>> requests ABSL_GUARDED_BY(mu);
  std::vector<v1::Member> members ABSL_GUARDED_BY(mu);
  std::set<uint64_t> stopped ABSL_GUARDED_BY(mu);
  // The member that served each session's last KeepAlive (liveness is the
  // leader's, not replicated state).
  std::map<uint64_t, uint64_t> keepalive_member ABSL_GUARDED_BY(mu);
  bool corrupt_next_snapshot ABSL_GUARDED_BY(mu) = false;
  // Authentication (fake_auth_service.cc): users, the switch and tokens are
  // test state here, not replicated; passwords are kept in clear.
  struct User {
    std::string password;
    bool superuser = false;
  };
  std::map<std::string, User> users ABSL_GUARDED_BY(mu);
  bool auth_enabled ABSL_GUARDED_BY(mu) = false;
  // What Authenticate reports as the token's lifetime (expires_at_ms). A
  // token stays valid until ExpireTokens, whatever it reported.
  absl::Duration token_ttl ABSL_GUARDED_BY(mu) = absl::Hours(1);
  // token -> (user, expired)
  std::map<std::string, std::pair<std::string, bool>> tokens ABSL_GUARDED_BY(mu);
  bool reject_tokens ABSL_GUARDED_BY(mu) = false;  // every token is expired
  int tokens_issued ABSL_GUARDED_BY(mu) = 0;
  // The credential metadata (authorization, synod-digest) of each call, by method.
  std::map<std::string, std::vector<FakeCluster::Metadata>> credentials ABSL_GUARDED_BY(mu);
  absl::CondVar released;  // signalled when hangs are released
};

class FakeWatchStream;

class FakeReplica final : public v1::Tree::Service,
                          public v1::Session::Service,
                          public v1::Watch::Service,
                          public v1::Cluster::Service,
                          public v1::Auth::Service {
 public:
  // The outcome of one request: its code, its detail and, for a read, the
  // revision of the state it saw (else the header says the applied one).
  struct Outcome {
    v1::ErrorCode code = v1::OK;
    std::string message;
    std::optional<uint64_t> revision;
  };

  FakeReplica(const FakeCluster::Options& options, FakeState* state, FakeControl* control,
              uint64_t member);
  ~FakeReplica() override;

  // Listens on 127.0.0.1 (the same port again after a Stop); aborts if it
  // cannot.
  void Start();
  void Stop();
  int port() const { return port_; }
  void BreakStreams();
  // Every watch of this replica's streams is canceled with WATCH_OVERFLOW.
  void OverflowWatches();
  int live_watch_streams() const;

  // Tree.
  grpc::Status Create(grpc::ServerContext* ctx, const v1::CreateRequest* req,
                      v1::CreateResponse* resp) override;
  grpc::Status Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                   v1::GetResponse* resp) override;
  grpc::Status Exists(grpc::ServerContext* ctx, const v1::ExistsRequest* req,
                      v1::ExistsResponse* resp) override;
  grpc::Status Set(grpc::ServerContext* ctx, const v1::SetRequest* req,
                   v1::SetResponse* resp) override;
  grpc::Status Delete(grpc::ServerContext* ctx, const v1::DeleteRequest* req,
                      v1::DeleteResponse* resp) override;
  grpc::Status GetChildren(grpc::ServerContext* ctx, const v1::GetChildrenRequest* req,
                           v1::GetChildrenResponse* resp) override;
  grpc::Status Multi(grpc::ServerContext* ctx, const v1::MultiRequest* req,
                     v1::MultiResponse* resp) override;
  grpc::Status History(grpc::ServerContext* ctx, const v1::HistoryRequest* req,
                       v1::HistoryResponse* resp) override;
  grpc::Status Sync(grpc::ServerContext* ctx, const v1::SyncRequest* req,
                    v1::SyncResponse* resp) override;
  // fake_auth_service.cc: the node's ACL as stored; SetAcl is proposed and
  // decided by apply.
  grpc::Status GetAcl(grpc::ServerContext* ctx, const v1::GetAclRequest* req,
                      v1::GetAclResponse* resp) override;
  grpc::Status SetAcl(grpc::ServerContext* ctx, const v1::SetAclRequest* req,
                      v1::SetAclResponse* resp) override;

  // Auth (fake_auth_service.cc).
  grpc::Status Authenticate(grpc::ServerContext* ctx, const v1::AuthenticateRequest* req,
                            v1::AuthenticateResponse* resp) override;
  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest* req,
                      v1::WhoAmIResponse* resp) override;
  grpc::Status UserAdd(grpc::ServerContext* ctx, const v1::UserAddRequest* req,
                       v1::UserAddResponse* resp) override;
  grpc::Status UserDelete(grpc::ServerContext* ctx, const v1::UserDeleteRequest* req,
                          v1::UserDeleteResponse* resp) override;
  grpc::Status UserPasswd(grpc::ServerContext* ctx, const v1::UserPasswdRequest* req,
                          v1::UserPasswdResponse* resp) override;
  grpc::Status UserList(grpc::ServerContext* ctx, const v1::UserListRequest* req,
                        v1::UserListResponse* resp) override;
  grpc::Status AuthEnable(grpc::ServerContext* ctx, const v1::AuthEnableRequest* req,
                          v1::AuthEnableResponse* resp) override;
  grpc::Status AuthDisable(grpc::ServerContext* ctx, const v1::AuthDisableRequest* req,
                           v1::AuthDisableResponse* resp) override;
  grpc::Status AuthStatus(grpc::ServerContext* ctx, const v1::AuthStatusRequest* req,
                          v1::AuthStatusResponse* resp) override;

  // Session.
  grpc::Status Open(grpc::ServerContext* ctx, const v1::OpenSessionRequest* req,
                    v1::OpenSessionResponse* resp) override;
  grpc::Status Close(grpc::ServerContext* ctx, const v1::CloseSessionRequest* req,
                     v1::CloseSessionResponse* resp) override;
  grpc::Status KeepAlive(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::KeepAliveResponse, v1::KeepAliveRequest>* stream) override;

  // Watch.
  grpc::Status Watch(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::WatchResponse, v1::WatchRequest>* stream) override;

  // Cluster (fake_cluster_service.cc).
  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest* req,
                      v1::StatusResponse* resp) override;
  grpc::Status MemberList(grpc::ServerContext* ctx, const v1::MemberListRequest* req,
                          v1::MemberListResponse* resp) override;
  grpc::Status MemberAdd(grpc::ServerContext* ctx, const v1::MemberAddRequest* req,
                         v1::MemberAddResponse* resp) override;
  grpc::Status MemberPromote(grpc::ServerContext* ctx, const v1::MemberPromoteRequest* req,
                             v1::MemberPromoteResponse* resp) override;
  grpc::Status MemberRemove(grpc::ServerContext* ctx, const v1::MemberRemoveRequest* req,
                            v1::MemberRemoveResponse* resp) override;
  grpc::Status TransferLeader(grpc::ServerContext* ctx, const v1::TransferLeaderRequest* req,
                              v1::TransferLeaderResponse* resp) override;
  grpc::Status Snapshot(grpc::ServerContext* ctx, const v1::SnapshotRequest* req,
                        grpc::ServerWriter<v1::SnapshotChunk>* writer) override;

 private:
  class StreamGuard;

  void Record(const std::string& method, const google::protobuf::Message& req);
  // The caller of a call, from its metadata as the server's Authenticator
  // reads it (user:<name> for a valid token, digest:<id> per synod-digest);
  // UNAUTHENTICATED for an unknown or expired token or a malformed digest.
  // Records the call's credential metadata under `method`.
  Outcome ResolveCaller(grpc::ServerContext* ctx, const std::string& method, v1::Caller* caller);
  // The caller of a call Serve admitted (its credentials are valid).
  v1::Caller CallerOf(grpc::ServerContext* ctx);
  // OK, or PERMISSION_DENIED while auth is enabled and `caller` is not the
  // superuser.
  Outcome RequireAdmin(const v1::Caller& caller);
  // Counts the call; returns the injected failure, if any.
  std::optional<ErrorCode> Admit(const std::string& method, const google::protobuf::Message& req);
  // A stream that fails before its first message cannot carry a header:
  // always a non-OK status.
  std::optional<grpc::Status> AdmitStream(const std::string& method,
                                          const google::protobuf::Message& req);
  void WaitWhileHung(grpc::ServerContext* ctx, const std::string& method);
  void FillHeader(const Outcome& out, v1::ResponseHeader* h);
  grpc::Status ToStatus(const v1::ResponseHeader& h);
  // Runs `body` unless a control intervenes (injected failure, hang,
  // NOT_LEADER without forwarding), then answers with its outcome.
  grpc::Status Serve(grpc::ServerContext* ctx, const std::string& method,
                     const google::protobuf::Message& req, v1::ResponseHeader* header,
                     absl::FunctionRef<Outcome()> body);

  // Proposes a tree write as the server's Tree service does: paths checked
  // first (storage::ValidatePath; a bad one is refused with INVALID_PATH and
  // never proposed), then one Command with the request's WriteContext.
  Outcome ProposeTxn(v1::Command command, v1::CommandResult* result);
  // Waits for what the read options ask (a min_revision not applied yet);
  // an outcome other than OK refuses the read.
  Outcome AwaitRead(grpc::ServerContext* ctx, const v1::ReadOptions& read);

  const FakeCluster::Options options_;
  FakeState* const state_;
  FakeControl* const control_;
  const uint64_t member_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  mutable absl::Mutex streams_mu_;
  std::set<grpc::ServerContext*> streams_ ABSL_GUARDED_BY(streams_mu_);
  std::set<FakeWatchStream*> watch_streams_ ABSL_GUARDED_BY(streams_mu_);
};

}  // namespace synod::client::testing
