#include "server/metrics/health.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace synod::server::metrics {

ProbeResult CheckHealth(const ReplicaState& state) {
  if (!state.serving()) return {false, "stopping"};
  const std::vector<v1::Member> members = state.members();
  const bool member = std::any_of(members.begin(), members.end(),
                                  [&](const v1::Member& m) { return m.id() == state.self(); });
  if (!member) {
    return {false, absl::StrCat("member ", state.self(), " is not in the cluster's membership",
                                members.empty() ? " (joining: waiting for the leader)" : "")};
  }
  if (state.leader() == raft::kNoNode) {
    return {false, absl::StrCat("no known leader (term ", state.term(),
                                "): election in progress or this replica is cut off")};
  }
  return {true, "ok"};
}

ProbeResult CheckReady(const ReplicaState& state, uint64_t max_lag) {
  ProbeResult health = CheckHealth(state);
  if (!health.ok) return health;
  const uint64_t commit = state.commit();
  const uint64_t applied = state.applied();
  if (applied + max_lag < commit) {
    return {false, absl::StrCat("applied index ", applied, " is ", commit - applied,
                                " behind commit index ", commit, " (max lag ", max_lag, ")")};
  }
  return {true, "ok"};
}

HttpResponse ProbeResponse(const ProbeResult& result) {
  HttpResponse r;
  r.status = result.ok ? 200 : 503;
  r.body = result.reason + "\n";
  return r;
}

}  // namespace synod::server::metrics
