#include "server/services/cluster_service.h"

#include <algorithm>

#include "server/services/reply.h"

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

}  // namespace

grpc::ServerUnaryReactor* ClusterService::Status(grpc::CallbackServerContext* context,
                                                 const v1::StatusRequest*,
                                                 v1::StatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
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

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* context,
                                                     const v1::MemberListRequest* request,
                                                     v1::MemberListResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
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

}  // namespace synod::server
