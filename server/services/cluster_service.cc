#include "server/services/cluster_service.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/services/reply.h"
#include "storage/cluster_settings.h"
#include "storage/path.h"
#include "storage/quota.h"

namespace synod::server {
namespace {

v1::Role ToProtoRole(raft::Role role, bool learner) {
  if (learner) return v1::ROLE_LEARNER;
  switch (role) {
    case raft::Role::kLeader:
      return v1::ROLE_LEADER;
    case raft::Role::kCandidate:
      return v1::ROLE_CANDIDATE;
    case raft::Role::kPreCandidate:
      return v1::ROLE_PRE_CANDIDATE;
    case raft::Role::kFollower:
      break;
  }
  return v1::ROLE_FOLLOWER;
}

// A Snapshot stream refused before it sent anything.
class RefusedSnapshot final : public grpc::ServerWriteReactor<v1::SnapshotChunk> {
 public:
  explicit RefusedSnapshot(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

template <typename Response>
std::optional<v1::Caller> ClusterService::Admit(grpc::CallbackServerContext* context, Gate gate,
                                                grpc::ServerUnaryReactor* reactor,
                                                Response* response) {
  absl::StatusOr<v1::Caller> caller = auth_->Resolve(*context);
  absl::Status s = caller.status();
  if (s.ok()) {
    s = gate == Gate::kAdmin ? auth_->RequireAdmin(*caller) : auth_->RequireAuthenticated(*caller);
  }
  if (!s.ok()) {
    FinishReply(reactor, response, *flow_->state(), ErrorCodeFor(s), std::string(s.message()));
    return std::nullopt;
  }
  return *std::move(caller);
}

grpc::ServerUnaryReactor* ClusterService::Status(grpc::CallbackServerContext* context,
                                                 const v1::StatusRequest*,
                                                 v1::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Admit(context, Gate::kAuthenticated, reactor, response)) return reactor;
  const ReplicaState* state = flow_->state();
  storage::TreeStore* store = store_;
  const std::string version = version_;
  driver_->QueryStatus([reactor, response, state, store, version](const DriverStatus& st) {
    const raft::ConfState& cs = st.raft.conf_state;
    const bool learner =
        std::find(cs.learners().begin(), cs.learners().end(), state->self()) != cs.learners().end();
    response->set_id(state->self());
    response->set_role(ToProtoRole(st.raft.soft_state.role, learner));
    response->set_term(st.raft.hard_state.term());
    response->set_leader_id(st.raft.soft_state.leader);
    response->set_commit_index(st.raft.hard_state.commit());
    const storage::StoreMeta meta = store->meta();
    response->set_applied_index(meta.applied_index);
    response->set_digest(meta.digest);
    response->set_snapshot_index(st.snapshot_index);
    response->set_log_first_index(st.log_first_index);
    response->set_version(version);
    for (const v1::Member& m : st.members) {
      v1::MemberStatus* ms = response->add_members();
      *ms->mutable_member() = m;
      auto reachable = st.reachable.find(m.id());
      ms->set_reachable(reachable != st.reachable.end() && reachable->second);
      for (const raft::ProgressStatus& p : st.raft.progress) {
        if (p.id == m.id()) ms->set_match_index(p.match);
      }
    }
    FinishReply(reactor, response, *state, v1::OK, "", meta.applied_index);
  });
  return reactor;
}

template <typename Response>
grpc::ServerUnaryReactor* ClusterService::Submit(grpc::CallbackServerContext* context,
                                                 MembershipRequest request, Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Admit(context, Gate::kAdmin, reactor, response)) return reactor;
  const ReplicaState* state = flow_->state();
  const bool transfer = request.kind == MembershipRequest::Kind::kTransfer;
  auto done = [reactor, response, state](const Outcome& o) {
    if (o.code == v1::OK) {
      if constexpr (!std::is_same_v<Response, v1::TransferLeaderResponse>) {
        for (const v1::Member& m : state->members()) *response->add_members() = m;
      }
    }
    FinishReply(reactor, response, *state, o.code, o.message);
  };
  // A transfer that does not happen in time did not happen (UNAVAILABLE);
  // a membership change that timed out may still commit.
  request.request_id = flow_->Track(flow_->Deadline(context), std::move(done),
                                    transfer ? v1::UNAVAILABLE : v1::DEADLINE_EXCEEDED);
  if (request.request_id != 0) driver_->RequestMembership(std::move(request));
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberAdd(grpc::CallbackServerContext* context,
                                                    const v1::MemberAddRequest* request,
                                                    v1::MemberAddResponse* response) {
  if (request->id() == 0 || request->peer_addr().empty()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (!Admit(context, Gate::kAdmin, reactor, response)) return reactor;
    FinishReply(reactor, response, *flow_->state(), v1::INVALID_ARGUMENT,
                "a new member needs an id >= 1 and a peer address");
    return reactor;
  }
  MembershipRequest r;
  r.change.set_type(raft::ConfChange::ADD_LEARNER);
  r.change.set_node_id(request->id());
  v1::Member m;
  m.set_id(request->id());
  m.set_peer_addr(request->peer_addr());
  m.set_client_addr(request->client_addr());
  m.set_learner(true);
  r.change.set_context(m.SerializeAsString());
  return Submit(context, std::move(r), response);
}

grpc::ServerUnaryReactor* ClusterService::MemberPromote(grpc::CallbackServerContext* context,
                                                        const v1::MemberPromoteRequest* request,
                                                        v1::MemberPromoteResponse* response) {
  MembershipRequest r;
  r.change.set_type(raft::ConfChange::PROMOTE_LEARNER);
  r.change.set_node_id(request->id());
  return Submit(context, std::move(r), response);
}

grpc::ServerUnaryReactor* ClusterService::MemberRemove(grpc::CallbackServerContext* context,
                                                       const v1::MemberRemoveRequest* request,
                                                       v1::MemberRemoveResponse* response) {
  MembershipRequest r;
  r.change.set_type(raft::ConfChange::REMOVE_NODE);
  r.change.set_node_id(request->id());
  return Submit(context, std::move(r), response);
}

grpc::ServerUnaryReactor* ClusterService::TransferLeader(grpc::CallbackServerContext* context,
                                                         const v1::TransferLeaderRequest* request,
                                                         v1::TransferLeaderResponse* response) {
  MembershipRequest r;
  r.kind = MembershipRequest::Kind::kTransfer;
  r.transferee = request->id();
  return Submit(context, std::move(r), response);
}

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* context,
                                                     const v1::MemberListRequest* request,
                                                     v1::MemberListResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Admit(context, Gate::kAuthenticated, reactor, response)) return reactor;
  const ReplicaState* state = flow_->state();
  flow_->Read(
      flow_->Deadline(context), request->read(),
      [reactor, response, state] {
        for (const v1::Member& m : state->members()) *response->add_members() = m;
        FinishReply(reactor, response, *state);
      },
      [reactor, response, state](const Outcome& o) {
        FinishReply(reactor, response, *state, o.code, o.message);
      });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::SettingsGet(grpc::CallbackServerContext* context,
                                                      const v1::SettingsGetRequest* request,
                                                      v1::SettingsGetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Admit(context, Gate::kAuthenticated, reactor, response)) return reactor;
  const ReplicaState* state = flow_->state();
  storage::TreeStore* store = store_;
  flow_->Read(
      flow_->Deadline(context), request->read(),
      [reactor, response, state, store] {
        const storage::StoreMeta meta = store->meta();
        storage::ToProto(meta.settings.value_or(storage::ClusterSettings()),
                         response->mutable_settings());
        response->set_recorded(meta.settings.has_value());
        FinishReply(reactor, response, *state, v1::OK, "", meta.applied_index);
      },
      [reactor, response, state](const Outcome& o) {
        FinishReply(reactor, response, *state, o.code, o.message);
      });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::SettingsSet(grpc::CallbackServerContext* context,
                                                      const v1::SettingsSetRequest* request,
                                                      v1::SettingsSetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::optional<v1::Caller> caller = Admit(context, Gate::kAdmin, reactor, response);
  if (!caller) return reactor;
  const ReplicaState* state = flow_->state();
  const storage::ClusterSettings current =
      store_->meta().settings.value_or(storage::ClusterSettings());
  const storage::ClusterSettings next = storage::MergeSettings(current, request->settings());
  absl::Status valid = storage::ValidateSettings(next);
  if (valid.ok() && next.history_per_node != current.history_per_node) {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "history_per_node is fixed when the cluster starts (it is ", current.history_per_node,
        "): each node's history is laid out for it"));
  }
  if (!valid.ok()) {
    FinishReply(reactor, response, *state, v1::INVALID_ARGUMENT, std::string(valid.message()));
    return reactor;
  }
  v1::Command command;
  *command.mutable_caller() = *std::move(caller);
  *command.mutable_set_settings()->mutable_settings() = request->settings();
  flow_->Write(flow_->Deadline(context), std::move(command),
               [reactor, response, state](const Outcome& o) {
                 const v1::ErrorCode code = o.result != nullptr ? o.result->code() : o.code;
                 std::string message = o.message;
                 if (o.result != nullptr) {
                   *response->mutable_settings() = o.result->settings();
                   if (code == v1::INVALID_ARGUMENT) {
                     message = "refused where it applied: the settings changed meanwhile";
                   }
                 }
                 FinishReply(reactor, response, *state, code, message);
               });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::QuotaGet(grpc::CallbackServerContext* context,
                                                   const v1::QuotaGetRequest* request,
                                                   v1::QuotaGetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Admit(context, Gate::kAuthenticated, reactor, response)) return reactor;
  if (!request->path().empty() && !storage::IsValidPath(request->path())) {
    FinishReply(reactor, response, *flow_->state(), v1::INVALID_PATH,
                "quota path must be absolute, with no empty, '.' or '..' part");
    return reactor;
  }
  const ReplicaState* state = flow_->state();
  storage::TreeStore* store = store_;
  flow_->Read(
      flow_->Deadline(context), request->read(),
      [reactor, request, response, state, store] {
        const storage::StoreMeta meta = store->meta();
        if (meta.quotas != nullptr) {
          for (const v1::Quota& q : meta.quotas->quotas()) {
            if (request->path().empty() || q.path() == request->path()) {
              *response->add_quotas() = q;
            }
          }
        }
        if (!request->path().empty() && response->quotas_size() == 0) {
          FinishReply(reactor, response, *state, v1::NO_NODE,
                      absl::StrCat("no quota on ", request->path()), meta.applied_index);
          return;
        }
        FinishReply(reactor, response, *state, v1::OK, "", meta.applied_index);
      },
      [reactor, response, state](const Outcome& o) {
        FinishReply(reactor, response, *state, o.code, o.message);
      });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::QuotaSet(grpc::CallbackServerContext* context,
                                                   const v1::QuotaSetRequest* request,
                                                   v1::QuotaSetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::optional<v1::Caller> caller = Admit(context, Gate::kAdmin, reactor, response);
  if (!caller) return reactor;
  std::string refused;
  v1::ErrorCode code = v1::INVALID_ARGUMENT;
  if (!storage::IsValidPath(request->path())) {
    code = v1::INVALID_PATH;
    refused = "quota path must be absolute, with no empty, '.' or '..' part";
  } else if (request->max_nodes() < 0 || request->max_bytes() < 0) {
    refused = "quota limits cannot be negative";
  } else if (request->max_nodes() == 0 && request->max_bytes() == 0) {
    refused = "give a node or byte limit (0 means none; to remove a quota, delete it)";
  }
  if (!refused.empty()) {
    FinishReply(reactor, response, *flow_->state(), code, refused);
    return reactor;
  }
  v1::Command command;
  v1::QuotaSetCommand* set = command.mutable_quota_set();
  set->set_path(request->path());
  set->set_max_nodes(request->max_nodes());
  set->set_max_bytes(request->max_bytes());
  ProposeAdmin(context, *std::move(caller), std::move(command), reactor, response);
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::QuotaDelete(grpc::CallbackServerContext* context,
                                                      const v1::QuotaDeleteRequest* request,
                                                      v1::QuotaDeleteResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::optional<v1::Caller> caller = Admit(context, Gate::kAdmin, reactor, response);
  if (!caller) return reactor;
  v1::Command command;
  command.mutable_quota_delete()->set_path(request->path());
  ProposeAdmin(context, *std::move(caller), std::move(command), reactor, response);
  return reactor;
}

template <typename Response>
void ClusterService::ProposeAdmin(grpc::CallbackServerContext* context, v1::Caller caller,
                                  v1::Command command, grpc::ServerUnaryReactor* reactor,
                                  Response* response) {
  *command.mutable_caller() = std::move(caller);
  const ReplicaState* state = flow_->state();
  flow_->Write(flow_->Deadline(context), std::move(command),
               [reactor, response, state](const Outcome& o) {
                 const v1::ErrorCode code = o.result != nullptr ? o.result->code() : o.code;
                 std::string message = o.message;
                 if (o.result != nullptr && code == v1::NO_NODE) message = "no quota on that path";
                 if (o.result != nullptr && code == v1::INVALID_ARGUMENT) {
                   message = absl::StrCat("refused: at most ", storage::kMaxQuotas, " quotas");
                 }
                 FinishReply(reactor, response, *state, code, message);
               });
}

grpc::ServerWriteReactor<v1::SnapshotChunk>* ClusterService::Snapshot(
    grpc::CallbackServerContext* context, const v1::SnapshotRequest* request) {
  absl::StatusOr<v1::Caller> caller = auth_->Resolve(*context);
  absl::Status s = caller.ok() ? auth_->RequireAdmin(*caller) : caller.status();
  if (!s.ok()) {
    return new RefusedSnapshot(grpc::Status(GrpcCodeFor(ErrorCodeFor(s)), std::string(s.message())));
  }
  return snapshot_streamer_->Start(*request);
}

}  // namespace synod::server
