#include "server/services/tree_service.h"

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "server/services/reply.h"
#include "server/services/tree_pipeline.h"
#include "storage/acl.h"
#include "storage/node.h"
#include "storage/page_token.h"
#include "storage/path.h"

namespace synod::server {
namespace {

// A storage failure reaching a client: reported as such (DATA_LOSS or
// INTERNAL), never disguised as a Synod outcome.
template <typename Response>
void FinishStorageError(const Replier& reply, Response* response, const ReplicaState& state,
                        const absl::Status& s) {
  base::Log("read failed: %s", s.ToString().c_str());
  FinishReply(reply, response, state, ErrorCodeFor(s), std::string(s.message()));
}

// The outcome of a single-op write: the command's code, or the failure that
// kept it from applying.
v1::ErrorCode WriteCode(const Outcome& o) {
  return o.result != nullptr ? o.result->code() : o.code;
}

// An ACL given with a create or setACL, checked as apply will check it
// (storage::ResolveAcl) so that one apply would refuse costs no log entry.
bool CheckGivenAcl(const google::protobuf::RepeatedPtrField<v1::Acl>& given,
                   const v1::Caller& caller, std::string* why) {
  if (static_cast<size_t>(given.size()) > storage::kMaxAclEntries) {
    *why = absl::StrCat("an ACL has at most ", storage::kMaxAclEntries, " entries, not ",
                        given.size());
    return false;
  }
  const std::vector<v1::Acl> entries(given.begin(), given.end());
  absl::StatusOr<storage::Acl> acl = storage::ResolveAcl(entries, caller);
  if (acl.ok()) return true;
  *why = std::string(acl.status().message());
  return false;
}

// A read the caller may not see: PERMISSION_DENIED, with nothing of the node
// in the response.
template <typename Response>
void FinishDenied(const Replier& reply, Response* response, const ReplicaState& state,
                  const std::string& path, const char* needs, uint64_t revision) {
  FinishReply(reply, response, state, v1::PERMISSION_DENIED,
              absl::StrCat(needs, " permission needed on ", path), revision);
}

}  // namespace

storage::ClusterSettings TreeService::Settings() const {
  return store_->meta().settings.value_or(storage::ClusterSettings());
}

v1::ErrorCode TreeService::CheckOp(const v1::Op& op, int64_t max_data_bytes,
                                   const v1::Caller& caller, std::string* why) const {
  auto check_path = [why](const std::string& path) {
    absl::Status s = storage::ValidatePath(path);
    if (s.ok()) return true;
    *why = std::string(s.message());
    return false;
  };
  auto check_version = [why](bool has, int64_t v) {
    if (!has || v >= -1) return true;
    *why = absl::StrCat("expected version ", v, " is below -1");
    return false;
  };
  switch (op.op_case()) {
    case v1::Op::kCreate: {
      const v1::CreateOp& c = op.create();
      // A sequential path is completed by its suffix, so it may end in '/'
      // (as apply and ZooKeeper validate it: with a suffix appended).
      const bool sequential = c.mode() == v1::PERSISTENT_SEQUENTIAL ||
                              c.mode() == v1::EPHEMERAL_SEQUENTIAL ||
                              c.mode() == v1::PERSISTENT_SEQUENTIAL_WITH_TTL;
      if (!check_path(sequential ? c.path() + "0000000000" : c.path())) return v1::INVALID_PATH;
      if (c.path() == "/") {
        *why = "the root exists";
        return v1::NODE_EXISTS;
      }
      if (!v1::CreateMode_IsValid(c.mode())) {
        *why = absl::StrCat("unknown create mode ", static_cast<int>(c.mode()));
        return v1::INVALID_ARGUMENT;
      }
      if (static_cast<int64_t>(c.data().size()) > max_data_bytes) {
        *why = absl::StrCat("data of ", c.data().size(), " bytes exceeds the limit of ",
                            max_data_bytes);
        return v1::TOO_LARGE;
      }
      if (!CheckGivenAcl(c.acl(), caller, why)) return v1::INVALID_ACL;
      return v1::OK;
    }
    case v1::Op::kSet: {
      const v1::SetOp& s = op.set();
      if (!check_path(s.path())) return v1::INVALID_PATH;
      if (!check_version(s.has_expected_version(), s.expected_version())) {
        return v1::INVALID_ARGUMENT;
      }
      if (static_cast<int64_t>(s.data().size()) > max_data_bytes) {
        *why = absl::StrCat("data of ", s.data().size(), " bytes exceeds the limit of ",
                            max_data_bytes);
        return v1::TOO_LARGE;
      }
      return v1::OK;
    }
    case v1::Op::kDelete:
      if (!check_path(op.delete_().path())) return v1::INVALID_PATH;
      if (!check_version(op.delete_().has_expected_version(), op.delete_().expected_version())) {
        return v1::INVALID_ARGUMENT;
      }
      return v1::OK;
    case v1::Op::kCheck:
      if (!check_path(op.check().path())) return v1::INVALID_PATH;
      if (!check_version(op.check().has_expected_version(), op.check().expected_version())) {
        return v1::INVALID_ARGUMENT;
      }
      return v1::OK;
    case v1::Op::kSetAcl: {
      const v1::SetAclOp& a = op.set_acl();
      if (!check_path(a.path())) return v1::INVALID_PATH;
      if (!check_version(a.has_expected_aversion(), a.expected_aversion())) {
        return v1::INVALID_ARGUMENT;
      }
      if (!CheckGivenAcl(a.acl(), caller, why)) return v1::INVALID_ACL;
      return v1::OK;
    }
    case v1::Op::OP_NOT_SET:
      break;
  }
  *why = "empty op";
  return v1::INVALID_ARGUMENT;
}

// ---- Unary RPCs ---------------------------------------------------------------

grpc::ServerUnaryReactor* TreeService::Create(grpc::CallbackServerContext* context,
                                              const v1::CreateRequest* request,
                                              v1::CreateResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoCreate);
}

grpc::ServerUnaryReactor* TreeService::Get(grpc::CallbackServerContext* context,
                                           const v1::GetRequest* request,
                                           v1::GetResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoGet);
}

grpc::ServerUnaryReactor* TreeService::Exists(grpc::CallbackServerContext* context,
                                              const v1::ExistsRequest* request,
                                              v1::ExistsResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoExists);
}

grpc::ServerUnaryReactor* TreeService::Set(grpc::CallbackServerContext* context,
                                           const v1::SetRequest* request,
                                           v1::SetResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoSet);
}

grpc::ServerUnaryReactor* TreeService::Delete(grpc::CallbackServerContext* context,
                                              const v1::DeleteRequest* request,
                                              v1::DeleteResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoDelete);
}

grpc::ServerUnaryReactor* TreeService::GetChildren(grpc::CallbackServerContext* context,
                                                   const v1::GetChildrenRequest* request,
                                                   v1::GetChildrenResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoGetChildren);
}

grpc::ServerUnaryReactor* TreeService::Multi(grpc::CallbackServerContext* context,
                                             const v1::MultiRequest* request,
                                             v1::MultiResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoMulti);
}

grpc::ServerUnaryReactor* TreeService::History(grpc::CallbackServerContext* context,
                                               const v1::HistoryRequest* request,
                                               v1::HistoryResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoHistory);
}

grpc::ServerUnaryReactor* TreeService::Sync(grpc::CallbackServerContext* context,
                                            const v1::SyncRequest* request,
                                            v1::SyncResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoSync);
}

grpc::ServerUnaryReactor* TreeService::GetAcl(grpc::CallbackServerContext* context,
                                              const v1::GetAclRequest* request,
                                              v1::GetAclResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoGetAcl);
}

grpc::ServerUnaryReactor* TreeService::SetAcl(grpc::CallbackServerContext* context,
                                              const v1::SetAclRequest* request,
                                              v1::SetAclResponse* response) {
  return ServeUnary(context, request, response, &TreeService::DoSetAcl);
}

// ---- Pipeline -----------------------------------------------------------------

void TreeService::Serve(const v1::PipelineCall& pipelined,
                        const std::shared_ptr<const v1::Caller>& caller, v1::PipelineReply* reply,
                        Replier replier) {
  const CallInfo call{flow_->Deadline(absl::Milliseconds(pipelined.timeout_ms())), caller};
  switch (pipelined.request_case()) {
    case v1::PipelineCall::kCreate:
      return DoCreate(std::move(replier), call, &pipelined.create(), reply->mutable_create());
    case v1::PipelineCall::kGet:
      return DoGet(std::move(replier), call, &pipelined.get(), reply->mutable_get());
    case v1::PipelineCall::kExists:
      return DoExists(std::move(replier), call, &pipelined.exists(), reply->mutable_exists());
    case v1::PipelineCall::kSet:
      return DoSet(std::move(replier), call, &pipelined.set(), reply->mutable_set());
    case v1::PipelineCall::kDelete:
      return DoDelete(std::move(replier), call, &pipelined.delete_(), reply->mutable_delete_());
    case v1::PipelineCall::kGetChildren:
      return DoGetChildren(std::move(replier), call, &pipelined.get_children(),
                           reply->mutable_get_children());
    case v1::PipelineCall::kMulti:
      return DoMulti(std::move(replier), call, &pipelined.multi(), reply->mutable_multi());
    case v1::PipelineCall::kHistory:
      return DoHistory(std::move(replier), call, &pipelined.history(), reply->mutable_history());
    case v1::PipelineCall::kSync:
      return DoSync(std::move(replier), call, &pipelined.sync(), reply->mutable_sync());
    case v1::PipelineCall::kGetAcl:
      return DoGetAcl(std::move(replier), call, &pipelined.get_acl(), reply->mutable_get_acl());
    case v1::PipelineCall::kSetAcl:
      return DoSetAcl(std::move(replier), call, &pipelined.set_acl(), reply->mutable_set_acl());
    case v1::PipelineCall::REQUEST_NOT_SET:
      break;
  }
  replier.Finish(
      grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a pipeline call with no request"));
}

grpc::ServerBidiReactor<v1::PipelineRequest, v1::PipelineResponse>* TreeService::Pipeline(
    grpc::CallbackServerContext* context) {
  absl::StatusOr<PerIpSlot> slot = PerIpLimiter::AcquireForPeer(stream_limiter_, context->peer());
  if (!slot.ok()) {
    return PipelineStream::Refuse(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(slot.status().message())));
  }
  absl::StatusOr<v1::Caller> resolved = ResolveCaller(callers_, *context);
  if (!resolved.ok()) {
    return PipelineStream::Refuse(
        ToGrpcStatus(ErrorCodeFor(resolved.status()), std::string(resolved.status().message())));
  }
  auto caller = std::make_shared<const v1::Caller>(*std::move(resolved));
  return PipelineStream::Open(
      [this, caller](const v1::PipelineCall& call, v1::PipelineReply* reply, Replier replier) {
        Serve(call, caller, reply, std::move(replier));
      },
      metrics_, *std::move(slot));
}

// ---- Writes -------------------------------------------------------------------

template <typename Response>
void TreeService::ProposeOne(Replier reply, const CallInfo& call, v1::Op op,
                             const v1::WriteContext& write, Response* response,
                             std::function<void(const v1::OpResult&, Response*)> on_ok) {
  std::string why;
  if (v1::ErrorCode code = CheckOp(op, Settings().max_data_bytes, *call.caller, &why);
      code != v1::OK) {
    FinishReply(reply, response, *flow_->state(), code, why);
    return;
  }
  v1::Command command;
  *command.mutable_txn()->add_ops() = std::move(op);
  *command.mutable_write() = write;
  *command.mutable_caller() = *call.caller;
  const ReplicaState* state = flow_->state();
  flow_->Write(call.deadline, std::move(command),
               [reply, response, state, on_ok = std::move(on_ok)](const Outcome& o) {
                 if (on_ok && o.result != nullptr && o.result->results_size() > 0 &&
                     o.result->results(0).code() == v1::OK) {
                   on_ok(o.result->results(0), response);
                 }
                 FinishReply(reply, response, *state, WriteCode(o), o.message);
               });
}

void TreeService::DoCreate(Replier reply, const CallInfo& call, const v1::CreateRequest* request,
                           v1::CreateResponse* response) {
  v1::Op op;
  *op.mutable_create() = request->op();
  ProposeOne<v1::CreateResponse>(
      std::move(reply), call, std::move(op), request->write(), response,
      [](const v1::OpResult& r, v1::CreateResponse* out) {
        out->set_path(r.path());
        *out->mutable_stat() = r.stat();
      });
}

void TreeService::DoSet(Replier reply, const CallInfo& call, const v1::SetRequest* request,
                        v1::SetResponse* response) {
  v1::Op op;
  *op.mutable_set() = request->op();
  ProposeOne<v1::SetResponse>(std::move(reply), call, std::move(op), request->write(), response,
                              [](const v1::OpResult& r, v1::SetResponse* out) {
                                *out->mutable_stat() = r.stat();
                              });
}

void TreeService::DoDelete(Replier reply, const CallInfo& call, const v1::DeleteRequest* request,
                           v1::DeleteResponse* response) {
  if (request->op().path() == "/") {
    FinishReply(reply, response, *flow_->state(), v1::INVALID_ARGUMENT,
                "the root cannot be deleted");
    return;
  }
  v1::Op op;
  *op.mutable_delete_() = request->op();
  ProposeOne<v1::DeleteResponse>(std::move(reply), call, std::move(op), request->write(),
                                 response);
}

void TreeService::DoSetAcl(Replier reply, const CallInfo& call, const v1::SetAclRequest* request,
                           v1::SetAclResponse* response) {
  v1::Op op;
  *op.mutable_set_acl() = request->op();
  ProposeOne<v1::SetAclResponse>(std::move(reply), call, std::move(op), request->write(),
                                 response, [](const v1::OpResult& r, v1::SetAclResponse* out) {
                                   *out->mutable_stat() = r.stat();
                                 });
}

void TreeService::DoMulti(Replier reply, const CallInfo& call, const v1::MultiRequest* request,
                          v1::MultiResponse* response) {
  // The replicated limits as this replica applied them; apply checks again
  // with the ones in force where the command lands in the log.
  const storage::ClusterSettings settings = Settings();
  if (static_cast<size_t>(request->ops_size()) > settings.max_multi_ops) {
    FinishReply(reply, response, *flow_->state(), v1::TOO_MANY_OPS,
                absl::StrCat(request->ops_size(), " ops; at most ", settings.max_multi_ops));
    return;
  }
  int64_t total = 0;
  for (int i = 0; i < request->ops_size(); ++i) {
    const v1::Op& op = request->ops(i);
    total += op.has_create() ? op.create().data().size()
             : op.has_set()  ? op.set().data().size()
                             : 0;
  }
  // The whole multi is one log entry: bound it like one node's data, with
  // room for the paths (a bigger one would stall replication for everyone).
  if (total > 4 * settings.max_data_bytes) {
    FinishReply(reply, response, *flow_->state(), v1::TOO_LARGE,
                absl::StrCat("multi carries ", total, " bytes of data; at most ",
                             4 * settings.max_data_bytes));
    return;
  }
  // Malformed ops are refused before proposing, in the multi result shape.
  for (int i = 0; i < request->ops_size(); ++i) {
    std::string why;
    const v1::ErrorCode code =
        CheckOp(request->ops(i), settings.max_data_bytes, *call.caller, &why);
    if (code == v1::OK) continue;
    for (int j = 0; j < request->ops_size(); ++j) {
      response->add_results()->set_code(j < i    ? v1::ROLLED_BACK
                                        : j == i ? code
                                                 : v1::RUNTIME_INCONSISTENCY);
    }
    v1::ResponseHeader* header = response->mutable_header();
    flow_->state()->FillHeader(header, code, absl::StrCat("op ", i, ": ", why));
    reply.Finish(grpc::Status::OK);
    return;
  }
  v1::Command command;
  v1::TxnCommand* txn = command.mutable_txn();
  *txn->mutable_ops() = request->ops();
  txn->set_is_multi(true);
  *command.mutable_write() = request->write();
  *command.mutable_caller() = *call.caller;
  const ReplicaState* state = flow_->state();
  flow_->Write(call.deadline, std::move(command), [reply, response, state](const Outcome& o) {
    if (o.result == nullptr || o.result->results_size() == 0) {
      FinishReply(reply, response, *state, WriteCode(o), o.message);
      return;
    }
    // Per-op results reach the client only with gRPC OK.
    *response->mutable_results() = o.result->results();
    state->FillHeader(response->mutable_header(), o.result->code(), o.message);
    reply.Finish(grpc::Status::OK);
  });
}

// ---- Reads --------------------------------------------------------------------

void TreeService::DoGet(Replier reply, const CallInfo& call, const v1::GetRequest* request,
                        v1::GetResponse* response) {
  const ReplicaState* state = flow_->state();
  if (request->has_version() && request->revision() != 0) {
    FinishReply(reply, response, *state, v1::INVALID_ARGUMENT,
                "give at most one of version and revision");
    return;
  }
  storage::TreeStore* store = store_;
  auto read = [reply, request, response, state, store, caller = call.caller] {
    absl::StatusOr<storage::NodeResult> r =
        request->has_version()    ? store->GetAtVersion(request->path(), request->version())
        : request->revision() > 0 ? store->GetAtRevision(request->path(), request->revision())
                                  : store->Get(request->path());
    if (!r.ok()) {
      FinishStorageError(reply, response, *state, r.status());
      return;
    }
    // Checked whenever the answer would tell something of the node (a
    // version that is not kept, say); NO_NODE comes first, as in ZooKeeper.
    if (r->code != v1::NO_NODE && r->code != v1::INVALID_PATH &&
        !storage::Permits(r->acl, storage::kPermRead, *caller)) {
      FinishDenied(reply, response, *state, request->path(), "READ", r->revision);
      return;
    }
    if (r->code == v1::OK) {
      response->set_data(std::move(r->data));
      response->set_null_data(r->data_null);
      storage::ToProto(r->stat, response->mutable_stat());
    }
    FinishReply(reply, response, *state, r->code, r->message, r->revision);
  };
  flow_->Read(call.deadline, request->read(), std::move(read),
              [reply, response, state](const Outcome& o) {
                FinishReply(reply, response, *state, o.code, o.message);
              });
}

void TreeService::DoExists(Replier reply, const CallInfo& call, const v1::ExistsRequest* request,
                           v1::ExistsResponse* response) {
  // Needs no permission, as in ZooKeeper: the stat is not protected.
  const ReplicaState* state = flow_->state();
  storage::TreeStore* store = store_;
  auto read = [reply, request, response, state, store] {
    absl::StatusOr<storage::ExistsResult> r = store->Exists(request->path());
    if (!r.ok()) {
      FinishStorageError(reply, response, *state, r.status());
      return;
    }
    response->set_exists(r->exists);
    if (r->exists) storage::ToProto(r->stat, response->mutable_stat());
    FinishReply(reply, response, *state, r->code, "", r->revision);
  };
  flow_->Read(call.deadline, request->read(), std::move(read),
              [reply, response, state](const Outcome& o) {
                FinishReply(reply, response, *state, o.code, o.message);
              });
}

void TreeService::DoGetChildren(Replier reply, const CallInfo& call,
                                const v1::GetChildrenRequest* request,
                                v1::GetChildrenResponse* response) {
  const ReplicaState* state = flow_->state();
  std::string start_after;
  if (!storage::ParseChildPageToken(request->page_token(), &start_after)) {
    FinishReply(reply, response, *state, v1::INVALID_ARGUMENT, "malformed page token");
    return;
  }
  const uint32_t limit = request->limit() == 0 || request->limit() > limits_.max_page_size
                             ? limits_.max_page_size
                             : request->limit();
  storage::TreeStore* store = store_;
  auto read = [reply, request, response, state, store, limit, caller = call.caller,
               start_after = std::move(start_after)] {
    absl::StatusOr<storage::ChildrenResult> r =
        store->GetChildren(request->path(), start_after, limit, request->include_stat());
    if (!r.ok()) {
      FinishStorageError(reply, response, *state, r.status());
      return;
    }
    if (r->code == v1::OK && !storage::Permits(r->parent_acl, storage::kPermRead, *caller)) {
      FinishDenied(reply, response, *state, request->path(), "READ", r->revision);
      return;
    }
    if (r->code == v1::OK) {
      storage::ToProto(r->parent_stat, response->mutable_stat());
      for (std::string& name : r->names) response->add_children(std::move(name));
      for (const storage::NodeStat& s : r->stats) storage::ToProto(s, response->add_child_stats());
      if (r->has_more && response->children_size() > 0) {
        response->set_next_page_token(
            storage::ChildPageToken(response->children(response->children_size() - 1)));
      }
    }
    FinishReply(reply, response, *state, r->code, "", r->revision);
  };
  flow_->Read(call.deadline, request->read(), std::move(read),
              [reply, response, state](const Outcome& o) {
                FinishReply(reply, response, *state, o.code, o.message);
              });
}

void TreeService::DoHistory(Replier reply, const CallInfo& call, const v1::HistoryRequest* request,
                            v1::HistoryResponse* response) {
  const ReplicaState* state = flow_->state();
  storage::TreeStore* store = store_;
  auto read = [reply, request, response, state, store, caller = call.caller] {
    absl::StatusOr<storage::HistoryResult> r = store->History(request->path(), request->limit());
    if (!r.ok()) {
      FinishStorageError(reply, response, *state, r.status());
      return;
    }
    if (r->code == v1::OK && !storage::Permits(r->acl, storage::kPermRead, *caller)) {
      FinishDenied(reply, response, *state, request->path(), "READ", r->revision);
      return;
    }
    response->set_compact_revision(r->compact_revision);
    if (r->code == v1::OK) {
      for (storage::HistoryEntry& h : r->versions) {
        v1::NodeVersion* v = response->add_versions();
        v->set_data(std::move(h.data));
        storage::ToProto(h.stat, v->mutable_stat());
        v->set_deleted(h.deleted);
        if (h.deleted) v->set_deleted_revision(h.revision);
      }
    }
    FinishReply(reply, response, *state, r->code, "", r->revision);
  };
  flow_->Read(call.deadline, request->read(), std::move(read),
              [reply, response, state](const Outcome& o) {
                FinishReply(reply, response, *state, o.code, o.message);
              });
}

void TreeService::DoGetAcl(Replier reply, const CallInfo& call, const v1::GetAclRequest* request,
                           v1::GetAclResponse* response) {
  const ReplicaState* state = flow_->state();
  storage::TreeStore* store = store_;
  auto read = [reply, request, response, state, store, caller = call.caller] {
    absl::StatusOr<storage::NodeResult> r = store->Get(request->path());
    if (!r.ok()) {
      FinishStorageError(reply, response, *state, r.status());
      return;
    }
    if (r->code == v1::OK) {
      // ZooKeeper's getACL: READ or ADMIN; without ADMIN the password
      // hashes in digest ids stay hidden.
      const bool admin = storage::Permits(r->acl, storage::kPermAdmin, *caller);
      if (!admin && !storage::Permits(r->acl, storage::kPermRead, *caller)) {
        FinishDenied(reply, response, *state, request->path(), "READ or ADMIN", r->revision);
        return;
      }
      storage::ToProto(r->acl, response->mutable_acl());
      if (!admin) storage::RedactDigests(response->mutable_acl());
      storage::ToProto(r->stat, response->mutable_stat());
    }
    FinishReply(reply, response, *state, r->code, r->message, r->revision);
  };
  flow_->Read(call.deadline, request->read(), std::move(read),
              [reply, response, state](const Outcome& o) {
                FinishReply(reply, response, *state, o.code, o.message);
              });
}

void TreeService::DoSync(Replier reply, const CallInfo& call, const v1::SyncRequest*,
                         v1::SyncResponse* response) {
  const ReplicaState* state = flow_->state();
  // A linearizable no-op read: done once this replica applied everything
  // committed when the call arrived. Reveals nothing, so needs no permission.
  v1::ReadOptions linearizable;
  flow_->Read(
      call.deadline, linearizable, [reply, response, state] { FinishReply(reply, response, *state); },
      [reply, response, state](const Outcome& o) {
        FinishReply(reply, response, *state, o.code, o.message);
      });
}

}  // namespace synod::server
