// ServerMetrics: the instruments the raft, apply and transport threads
// update as things happen (counts and latencies that no state holds). Gauges
// of state that lives elsewhere are read at scrape time (replica_metrics.h).
//
// The driver and state machine take a ServerMetrics* that may be null (no
// metrics: unit tests, tools); the pointed-to object outlives them.
//
// Thread: any (relaxed atomics).
#pragma once

#include "server/metrics/metrics_registry.h"

namespace synod::server::metrics {

struct ServerMetrics {
  // Registers every instrument in `registry` (which must outlive this).
  explicit ServerMetrics(MetricsRegistry* registry);

  // Raft thread.
  Counter* leader_changes;      // a new known leader, as this replica saw it
  Counter* proposals_failed;    // refused before reaching the log
  Counter* snapshots_received;  // installed from the leader
  Histogram* log_sync_seconds;  // LogStore::Save with fsync
  // Transport threads.
  Counter* snapshots_sent;
  Counter* snapshots_send_failed;
  // Raft thread and peer listener threads: Raft links closed because a
  // hello or a frame broke the rules (server/raft_link.h).
  Counter* peer_links_refused;
  // gRPC threads: Peer service calls refused for their sender or cluster.
  Counter* peer_calls_refused;
  // Raft thread: peer messages (from links or the Peer service) that
  // RawNode::Step refused with an error.
  Counter* peer_messages_refused;
  // Apply thread.
  Counter* proposals_committed;  // this replica's proposals, applied
  Counter* sessions_expired;
  Histogram* apply_batch_seconds;  // one Applier::ApplyBatch (one WriteBatch)
  Histogram* apply_batch_entries;
  // Client front ends, refusals beyond a connection limit: streams over
  // --max_streams_per_ip (gRPC threads); ZooKeeper connections over
  // --zk_max_client_cnxns and over --zk_max_connections (listener thread).
  Counter* client_streams_refused;
  Counter* zk_connections_refused_per_ip;
  Counter* zk_connections_refused_total;
};

}  // namespace synod::server::metrics
