// The replica's /health and /ready answers, from ReplicaState alone (lock-
// free atomics plus the members list), so a probe never waits on the raft
// or apply threads.
//
// Healthy: the replica is serving (not stopping), is a member of a cluster
// (its membership lists it) and knows a leader. A replica cut off from the
// majority loses its leader within an election timeout (check-quorum on
// the leader, pre-vote on followers), and turns unhealthy.
//
// Ready: healthy, and its applied index is within `max_lag` entries of the
// commit index it knows (which followers learn from the leader), so reads
// served here are not far behind.
//
// Thread: any.
#pragma once

#include <cstdint>
#include <string>

#include "server/metrics/metrics_http.h"
#include "server/replica_state.h"

namespace synod::server::metrics {

struct [[nodiscard]] ProbeResult {
  bool ok = false;
  std::string reason;  // one line; "ok" when ok
};

ProbeResult CheckHealth(const ReplicaState& state);
ProbeResult CheckReady(const ReplicaState& state, uint64_t max_lag);

// 200 "ok\n", else 503 with the reason.
HttpResponse ProbeResponse(const ProbeResult& result);

}  // namespace synod::server::metrics
