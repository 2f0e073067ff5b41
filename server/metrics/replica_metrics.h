// The replica's state as metrics, read at scrape time from where it already
// lives: ReplicaState atomics (role, term, leader, commit, applied), the
// LogStore's bounds, the tree store's meta (digest), RocksDB properties,
// the session tracker and the watch hub.
//
// Nothing here waits on the raft or apply threads: the reads are atomics or
// take short-lived mutexes that those threads only hold for a few
// instructions (LogStore view, store meta, members list, watch hub stats).
//
// Thread: the collector runs on the scraping thread.
#pragma once

#include <cstdint>
#include <string>

#include "server/metrics/metrics_registry.h"
#include "server/replica_state.h"
#include "server/session/session_tracker.h"
#include "server/watch/watch_hub.h"
#include "storage/log_store.h"
#include "storage/rocks_env.h"
#include "storage/tree_store.h"

namespace synod::server::metrics {

// Not owned; all outlive the registry's last Gather.
struct ReplicaSources {
  const ReplicaState* state = nullptr;
  const storage::RocksEnv* env = nullptr;
  const storage::LogStore* log = nullptr;
  storage::TreeStore* store = nullptr;
  const SessionTracker* sessions = nullptr;
  const WatchHub* watches = nullptr;
  std::string version;
};

void AddReplicaCollector(MetricsRegistry* registry, const ReplicaSources& sources);

}  // namespace synod::server::metrics
