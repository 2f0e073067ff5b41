#include "server/services/tree_service.h"

#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/log.h"
#include "server/services/reply.h"
#include "storage/node.h"
#include "storage/path.h"

namespace synod::server {
namespace {

using Reactor = grpc::ServerUnaryReactor;

// A storage failure reaching a client: reported as such (DATA_LOSS or
// INTERNAL), never disguised as a Synod outcome.
template <typename Response>
void FinishStorageError(Reactor* reactor, Response* response, const ReplicaState& state,
                        const absl::Status& s) {
  Log("read failed: %s", s.ToString().c_str());
  FinishReply(reactor, response, state, ErrorCodeFor(s), std::string(s.message()));
}

// The outcome of a single-op write: the command's code, or the failure that
// kept it from applying.
v1::ErrorCode WriteCode(const Outcome& o) {
  return o.result != nullptr ? o.result->code() : o.code;
}

std::string PageToken(const std::string& last_name) { return absl::BytesToHexString(last_name); }

bool ParsePageToken(const std::string& token, std::string* start_after) {
  if (token.size() % 2 != 0) return false;
  for (char c : token) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  *start_after = absl::HexStringToBytes(token);
  return true;
}

}  // namespace

v1::ErrorCode TreeService::CheckOp(const v1::Op& op, std::string* why) const {
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
      if (!check_path(c.path())) return v1::INVALID_PATH;
      if (c.path() == "/") {
        *why = "the root exists";
        return v1::NODE_EXISTS;
      }
      if (!v1::CreateMode_IsValid(c.mode())) {
        *why = absl::StrCat("unknown create mode ", static_cast<int>(c.mode()));
        return v1::INVALID_ARGUMENT;
      }
      if (static_cast<int64_t>(c.data().size()) > limits_.max_data_bytes) {
        *why = absl::StrCat("data of ", c.data().size(), " bytes exceeds the limit of ",
                            limits_.max_data_bytes);
        return v1::TOO_LARGE;
      }
      return v1::OK;
    }
    case v1::Op::kSet: {
      const v1::SetOp& s = op.set();
      if (!check_path(s.path())) return v1::INVALID_PATH;
      if (!check_version(s.has_expected_version(), s.expected_version())) {
        return v1::INVALID_ARGUMENT;
      }
      if (static_cast<int64_t>(s.data().size()) > limits_.max_data_bytes) {
        *why = absl::StrCat("data of ", s.data().size(), " bytes exceeds the limit of ",
                            limits_.max_data_bytes);
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
    case v1::Op::OP_NOT_SET:
      break;
  }
  *why = "empty op";
  return v1::INVALID_ARGUMENT;
}

// ---- Writes -------------------------------------------------------------------

Reactor* TreeService::Create(grpc::CallbackServerContext* context, const v1::CreateRequest* request,
                             v1::CreateResponse* response) {
  Reactor* reactor = context->DefaultReactor();
  v1::Command command;
  *command.mutable_txn()->add_ops()->mutable_create() = request->op();
  std::string why;
  if (v1::ErrorCode code = CheckOp(command.txn().ops(0), &why); code != v1::OK) {
    FinishReply(reactor, response, *flow_->state(), code, why);
    return reactor;
  }
  *command.mutable_write() = request->write();
  const ReplicaState* state = flow_->state();
  flow_->Write(flow_->Deadline(context), std::move(command),
               [reactor, response, state](const Outcome& o) {
                 if (o.result != nullptr && o.result->results_size() > 0) {
                   const v1::OpResult& r = o.result->results(0);
                   if (r.code() == v1::OK) {
                     response->set_path(r.path());
                     *response->mutable_stat() = r.stat();
                   }
                 }
                 FinishReply(reactor, response, *state, WriteCode(o), o.message);
               });
  return reactor;
}

Reactor* TreeService::Set(grpc::CallbackServerContext* context, const v1::SetRequest* request,
                          v1::SetResponse* response) {
  Reactor* reactor = context->DefaultReactor();
  v1::Command command;
  *command.mutable_txn()->add_ops()->mutable_set() = request->op();
  std::string why;
  if (v1::ErrorCode code = CheckOp(command.txn().ops(0), &why); code != v1::OK) {
    FinishReply(reactor, response, *flow_->state(), code, why);
    return reactor;
  }
  *command.mutable_write() = request->write();
  const ReplicaState* state = flow_->state();
  flow_->Write(flow_->Deadline(context), std::move(command),
               [reactor, response, state](const Outcome& o) {
                 if (o.result != nullptr && o.result->results_size() > 0 &&
                     o.result->results(0).code() == v1::OK) {
                   *response->mutable_stat() = o.result->results(0).stat();
                 }
                 FinishReply(reactor, response, *state, WriteCode(o), o.message);
               });
  return reactor;
}

Reactor* TreeService::Delete(grpc::CallbackServerContext* context, const v1::DeleteRequest* request,
                             v1::DeleteResponse* response) {
  Reactor* reactor = context->DefaultReactor();
  v1::Command command;
  *command.mutable_txn()->add_ops()->mutable_delete_() = request->op();
  std::string why;
  if (v1::ErrorCode code = CheckOp(command.txn().ops(0), &why); code != v1::OK) {
    FinishReply(reactor, response, *flow_->state(), code, why);
    return reactor;
  }
  if (request->op().path() == "/") {
    FinishReply(reactor, response, *flow_->state(), v1::INVALID_ARGUMENT,
                "the root cannot be deleted");
    return reactor;
  }
  *command.mutable_write() = request->write();
  const ReplicaState* state = flow_->state();
  flow_->Write(flow_->Deadline(context), std::move(command),
               [reactor, response, state](const Outcome& o) {
                 FinishReply(reactor, response, *state, WriteCode(o), o.message);
               });
  return reactor;
}

Reactor* TreeService::Multi(grpc::CallbackServerContext* context, const v1::MultiRequest* request,
                            v1::MultiResponse* response) {
  Reactor* reactor = context->DefaultReactor();
  if (static_cast<size_t>(request->ops_size()) > limits_.max_multi_ops) {
    FinishReply(reactor, response, *flow_->state(), v1::TOO_MANY_OPS,
                absl::StrCat(request->ops_size(), " ops; at most ", limits_.max_multi_ops));
    return reactor;
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
  if (total > 4 * limits_.max_data_bytes) {
    FinishReply(reactor, response, *flow_->state(), v1::TOO_LARGE,
                absl::StrCat("multi carries ", total, " bytes of data; at most ",
                             4 * limits_.max_data_bytes));
    return reactor;
  }
  // Malformed ops are refused before proposing, in the multi result shape.
  for (int i = 0; i < request->ops_size(); ++i) {
    std::string why;
    const v1::ErrorCode code = CheckOp(request->ops(i), &why);
    if (code == v1::OK) continue;
    for (int j = 0; j < request->ops_size(); ++j) {
      response->add_results()->set_code(j < i    ? v1::ROLLED_BACK
                                        : j == i ? code
                                                 : v1::RUNTIME_INCONSISTENCY);
    }
    v1::ResponseHeader* header = response->mutable_header();
    flow_->state()->FillHeader(header, code, absl::StrCat("op ", i, ": ", why));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  v1::Command command;
  v1::TxnCommand* txn = command.mutable_txn();
  *txn->mutable_ops() = request->ops();
  txn->set_is_multi(true);
  *command.mutable_write() = request->write();
  const ReplicaState* state = flow_->state();
  flow_->Write(flow_->Deadline(context), std::move(command),
               [reactor, response, state](const Outcome& o) {
                 if (o.result == nullptr || o.result->results_size() == 0) {
                   FinishReply(reactor, response, *state, WriteCode(o), o.message);
                   return;
                 }
                 // Per-op results reach the client only with gRPC OK.
                 *response->mutable_results() = o.result->results();
                 state->FillHeader(response->mutable_header(), o.result->code(), o.message);
                 reactor->Finish(grpc::Status::OK);
               });
  return reactor;
}

// ---- Reads --------------------------------------------------------------------

Reactor* TreeService::Get(grpc::CallbackServerContext* context, const v1::GetRequest* request,
                          v1::GetResponse* response) {
  Reactor* reactor = context->DefaultReactor();
  const ReplicaState* state = flow_->state();
  if (request->has_version() && request->revision() != 0) {
    FinishReply(reactor, response, *state, v1::INVALID_ARGUMENT,
                "give at most one of version and revision");
    return reactor;
  }
  storage::TreeStore* store = store_;
  auto read = [reactor, request, response, state, store] {
    absl::StatusOr<storage::NodeResult> r =
        request->has_version()    ? store->GetAtVersion(request->path(), request->version())
        : request->revision() > 0 ? store->GetAtRevision(request->path(), request->revision())
                                  : store->Get(request->path());
    if (!r.ok()) {
      FinishStorageError(reactor, response, *state, r.status());
      return;
    }
    if (r->code == v1::OK) {
      response->set_data(std::move(r->data));
      storage::ToProto(r->stat, response->mutable_stat());
    }
    FinishReply(reactor, response, *state, r->code, "", r->revision);
  };
  flow_->Read(flow_->Deadline(context), request->read(), std::move(read),
              [reactor, response, state](const Outcome& o) {
                FinishReply(reactor, response, *state, o.code, o.message);
              });
  return reactor;
}

Reactor* TreeService::Exists(grpc::CallbackServerContext* context, const v1::ExistsRequest* request,
                             v1::ExistsResponse* response) {
  Reactor* reactor = context->DefaultReactor();
  const ReplicaState* state = flow_->state();
  storage::TreeStore* store = store_;
  auto read = [reactor, request, response, state, store] {
    absl::StatusOr<storage::ExistsResult> r = store->Exists(request->path());
    if (!r.ok()) {
      FinishStorageError(reactor, response, *state, r.status());
      return;
    }
    response->set_exists(r->exists);
    if (r->exists) storage::ToProto(r->stat, response->mutable_stat());
    FinishReply(reactor, response, *state, r->code, "", r->revision);
  };
  flow_->Read(flow_->Deadline(context), request->read(), std::move(read),
              [reactor, response, state](const Outcome& o) {
                FinishReply(reactor, response, *state, o.code, o.message);
              });
  return reactor;
}

Reactor* TreeService::GetChildren(grpc::CallbackServerContext* context,
                                  const v1::GetChildrenRequest* request,
                                  v1::GetChildrenResponse* response) {
  Reactor* reactor = context->DefaultReactor();
  const ReplicaState* state = flow_->state();
  std::string start_after;
  if (!ParsePageToken(request->page_token(), &start_after)) {
    FinishReply(reactor, response, *state, v1::INVALID_ARGUMENT, "malformed page token");
    return reactor;
  }
  const uint32_t limit = request->limit() == 0 || request->limit() > limits_.max_page_size
                             ? limits_.max_page_size
                             : request->limit();
  storage::TreeStore* store = store_;
  auto read = [reactor, request, response, state, store, limit,
               start_after = std::move(start_after)] {
    absl::StatusOr<storage::ChildrenResult> r =
        store->GetChildren(request->path(), start_after, limit, request->include_stat());
    if (!r.ok()) {
      FinishStorageError(reactor, response, *state, r.status());
      return;
    }
    if (r->code == v1::OK) {
      storage::ToProto(r->parent_stat, response->mutable_stat());
      for (std::string& name : r->names) response->add_children(std::move(name));
      for (const storage::NodeStat& s : r->stats) storage::ToProto(s, response->add_child_stats());
      if (r->has_more && response->children_size() > 0) {
        response->set_next_page_token(PageToken(response->children(response->children_size() - 1)));
      }
    }
    FinishReply(reactor, response, *state, r->code, "", r->revision);
  };
  flow_->Read(flow_->Deadline(context), request->read(), std::move(read),
              [reactor, response, state](const Outcome& o) {
                FinishReply(reactor, response, *state, o.code, o.message);
              });
  return reactor;
}

Reactor* TreeService::History(grpc::CallbackServerContext* context,
                              const v1::HistoryRequest* request, v1::HistoryResponse* response) {
  Reactor* reactor = context->DefaultReactor();
  const ReplicaState* state = flow_->state();
  storage::TreeStore* store = store_;
  auto read = [reactor, request, response, state, store] {
    absl::StatusOr<storage::HistoryResult> r = store->History(request->path(), request->limit());
    if (!r.ok()) {
      FinishStorageError(reactor, response, *state, r.status());
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
    FinishReply(reactor, response, *state, r->code, "", r->revision);
  };
  flow_->Read(flow_->Deadline(context), request->read(), std::move(read),
              [reactor, response, state](const Outcome& o) {
                FinishReply(reactor, response, *state, o.code, o.message);
              });
  return reactor;
}

Reactor* TreeService::Sync(grpc::CallbackServerContext* context, const v1::SyncRequest*,
                           v1::SyncResponse* response) {
  Reactor* reactor = context->DefaultReactor();
  const ReplicaState* state = flow_->state();
  // A linearizable no-op read: done once this replica applied everything
  // committed when the call arrived.
  v1::ReadOptions linearizable;
  flow_->Read(
      flow_->Deadline(context), linearizable,
      [reactor, response, state] { FinishReply(reactor, response, *state); },
      [reactor, response, state](const Outcome& o) {
        FinishReply(reactor, response, *state, o.code, o.message);
      });
  return reactor;
}

}  // namespace synod::server
