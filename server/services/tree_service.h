// TreeService: the Tree gRPC service (callback API).
//
// Writes become Commands proposed through Raft; the reply is sent when this
// replica has applied the entry (RequestFlow). Reads run on the local
// TreeStore once the requested consistency allows. Handlers never wait:
// the thread that completes a request (apply, raft, deadline or the handler
// itself for SERIALIZABLE reads) fills the response and finishes the
// reactor.
//
// Replies: every response carries the header (this replica, its leader, the
// revision it had applied, the Synod code). A failed call ends with the
// mapped gRPC status and the header in its error details. Multi is the
// exception: a multi whose op failed ends with gRPC OK, the failing code in
// the header and the per-op results (ROLLED_BACK / RUNTIME_INCONSISTENCY for
// the others), so the results reach the client.
//
// Cheap checks happen before proposing (path syntax, data size, op count,
// the ACLs a create or setACL gives), so bad input costs no log entry;
// apply checks everything again anyway.
//
// Access (tree.proto): each unary call, and each Pipeline stream once,
// resolves its caller (UNAUTHENTICATED fails the call or the stream). Every
// proposed command carries it, and apply checks the ACLs of writes. Reads
// are checked here, against the ACL of the state they read, as ZooKeeper
// checks them: Get (also at a past version or revision, with that version's
// ACL), GetChildren and History need READ, GetAcl READ or ADMIN (READ alone
// shows digest ids without their hash); Exists and Sync need nothing. A
// missing node answers NO_NODE before any permission is checked; a denied
// read answers PERMISSION_DENIED with no data and no stat.
//
// Pipeline carries any number of these calls on one stream
// (tree_pipeline.h); each is served by the same handler as its unary RPC,
// through a Replier, and counted in the API metrics under that RPC's name.
//
// Thread: gRPC callback threads; stateless apart from its collaborators.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "server/metrics/api_metrics.h"
#include "server/per_ip_limit.h"
#include "server/services/caller.h"
#include "server/services/reply.h"
#include "server/services/request_flow.h"
#include "storage/tree_store.h"
#include "synod/v1/tree.grpc.pb.h"

namespace synod::server {

class TreeService final : public v1::Tree::CallbackService {
 public:
  // This replica's own limits. The ones that change a write's outcome are
  // the cluster settings, read from the replicated state.
  struct Limits {
    uint32_t max_page_size = 10000;  // GetChildren
  };

  // `metrics` (may be null) counts the calls that arrive on Pipeline
  // streams; unary calls are counted by its interceptor. `callers` tells
  // who sent a call (none: every call is anonymous).
  TreeService(RequestFlow* flow, storage::TreeStore* store, const Limits& limits,
              metrics::ApiMetrics* metrics = nullptr, CallerResolver callers = {})
      : flow_(flow),
        store_(store),
        limits_(limits),
        metrics_(metrics),
        callers_(std::move(callers)) {}

  grpc::ServerUnaryReactor* Create(grpc::CallbackServerContext* context,
                                   const v1::CreateRequest* request,
                                   v1::CreateResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context, const v1::GetRequest* request,
                                v1::GetResponse* response) override;
  grpc::ServerUnaryReactor* Exists(grpc::CallbackServerContext* context,
                                   const v1::ExistsRequest* request,
                                   v1::ExistsResponse* response) override;
  grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext* context, const v1::SetRequest* request,
                                v1::SetResponse* response) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context,
                                   const v1::DeleteRequest* request,
                                   v1::DeleteResponse* response) override;
  grpc::ServerUnaryReactor* GetChildren(grpc::CallbackServerContext* context,
                                        const v1::GetChildrenRequest* request,
                                        v1::GetChildrenResponse* response) override;
  grpc::ServerUnaryReactor* Multi(grpc::CallbackServerContext* context,
                                  const v1::MultiRequest* request,
                                  v1::MultiResponse* response) override;
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const v1::HistoryRequest* request,
                                    v1::HistoryResponse* response) override;
  grpc::ServerUnaryReactor* Sync(grpc::CallbackServerContext* context,
                                 const v1::SyncRequest* request,
                                 v1::SyncResponse* response) override;
  grpc::ServerUnaryReactor* GetAcl(grpc::CallbackServerContext* context,
                                   const v1::GetAclRequest* request,
                                   v1::GetAclResponse* response) override;
  grpc::ServerUnaryReactor* SetAcl(grpc::CallbackServerContext* context,
                                   const v1::SetAclRequest* request,
                                   v1::SetAclResponse* response) override;
  grpc::ServerBidiReactor<v1::PipelineRequest, v1::PipelineResponse>* Pipeline(
      grpc::CallbackServerContext* context) override;

  // Counts each Pipeline stream against its client's address (null, the
  // default: no limit); the stream over the limit ends at once with
  // RESOURCE_EXHAUSTED. Set before the server starts; must outlive it.
  void set_stream_limiter(PerIpLimiter* limiter) { stream_limiter_ = limiter; }

  // Serves one call of a Pipeline stream whose caller is `caller`: `reply`
  // receives the response of the call's kind, then `replier` is finished.
  // INVALID_ARGUMENT for a call that carries no request. Also what an
  // in-process front end (the ZooKeeper listener, server/zk) calls.
  void Serve(const v1::PipelineCall& call, const std::shared_ptr<const v1::Caller>& caller,
             v1::PipelineReply* reply, Replier replier);

 private:
  // What a handler knows of its call besides the request.
  struct CallInfo {
    absl::Time deadline;
    // Shared by the calls of a stream; lives until the last reply.
    std::shared_ptr<const v1::Caller> caller;
  };

  // A unary RPC: its reactor, with `handler` started on it once the caller
  // is known (or finished with why it is not).
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* ServeUnary(grpc::CallbackServerContext* context, const Request* request,
                                       Response* response,
                                       void (TreeService::*handler)(Replier, const CallInfo&,
                                                                    const Request*, Response*)) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    absl::StatusOr<v1::Caller> caller = ResolveCaller(callers_, *context);
    if (!caller.ok()) {
      FinishReply(reactor, response, *flow_->state(), ErrorCodeFor(caller.status()),
                  std::string(caller.status().message()));
      return reactor;
    }
    const CallInfo call{flow_->Deadline(context),
                        std::make_shared<const v1::Caller>(*std::move(caller))};
    (this->*handler)(reactor, call, request, response);
    return reactor;
  }


  // The handlers behind both the unary RPCs and Pipeline. `request` and
  // `response` live until `reply` is finished.
  void DoCreate(Replier reply, const CallInfo& call, const v1::CreateRequest* request,
                v1::CreateResponse* response);
  void DoGet(Replier reply, const CallInfo& call, const v1::GetRequest* request,
             v1::GetResponse* response);
  void DoExists(Replier reply, const CallInfo& call, const v1::ExistsRequest* request,
                v1::ExistsResponse* response);
  void DoSet(Replier reply, const CallInfo& call, const v1::SetRequest* request,
             v1::SetResponse* response);
  void DoDelete(Replier reply, const CallInfo& call, const v1::DeleteRequest* request,
                v1::DeleteResponse* response);
  void DoGetChildren(Replier reply, const CallInfo& call, const v1::GetChildrenRequest* request,
                     v1::GetChildrenResponse* response);
  void DoMulti(Replier reply, const CallInfo& call, const v1::MultiRequest* request,
               v1::MultiResponse* response);
  void DoHistory(Replier reply, const CallInfo& call, const v1::HistoryRequest* request,
                 v1::HistoryResponse* response);
  void DoSync(Replier reply, const CallInfo& call, const v1::SyncRequest* request,
              v1::SyncResponse* response);
  void DoGetAcl(Replier reply, const CallInfo& call, const v1::GetAclRequest* request,
                v1::GetAclResponse* response);
  void DoSetAcl(Replier reply, const CallInfo& call, const v1::SetAclRequest* request,
                v1::SetAclResponse* response);

  // A single-op write: `op` proposed with the call's caller and `write`
  // context once CheckOp passes; `done` sees the op's result (null if the
  // command did not apply) and finishes the reply.
  template <typename Response>
  void ProposeOne(Replier reply, const CallInfo& call, v1::Op op, const v1::WriteContext& write,
                  Response* response,
                  std::function<void(const v1::OpResult&, Response*)> on_ok = nullptr);

  // Checks an op before it is proposed: INVALID_PATH, TOO_LARGE,
  // INVALID_ARGUMENT (unknown mode, version below -1, empty op), INVALID_ACL
  // (an ACL given with a create or setACL that apply would refuse for
  // `caller`). OK if it may be proposed.
  v1::ErrorCode CheckOp(const v1::Op& op, int64_t max_data_bytes, const v1::Caller& caller,
                        std::string* why) const;
  // The cluster settings this replica applied (defaults before the log
  // recorded any).
  storage::ClusterSettings Settings() const;

  RequestFlow* const flow_;
  storage::TreeStore* const store_;
  const Limits limits_;
  metrics::ApiMetrics* const metrics_;
  const CallerResolver callers_;
  PerIpLimiter* stream_limiter_ = nullptr;
};

}  // namespace synod::server
