#include "server/metrics/server_metrics.h"

namespace synod::server::metrics {
namespace {

constexpr char kPeerRefusedHelp[] =
    "Peer traffic refused: Raft links closed because their sender or cluster did not match "
    "(what=raft_link), Peer gRPC calls refused for their sender or cluster (what=peer_rpc), "
    "Raft messages the core refused to step (what=raft_message).";

constexpr char kClientRefusedHelp[] =
    "Client streams and connections refused for a connection limit: gRPC streams over "
    "--max_streams_per_ip (what=stream_per_ip), ZooKeeper connections over "
    "--zk_max_client_cnxns (what=zk_connection_per_ip) or --zk_max_connections "
    "(what=zk_connection_total).";

}  // namespace

ServerMetrics::ServerMetrics(MetricsRegistry* r)
    : leader_changes(r->NewCounter("synod_raft_leader_changes_total",
                                   "Times this replica saw a new leader (or itself became one).")),
      proposals_failed(r->NewCounter(
          "synod_raft_proposals_failed_total",
          "Proposals this replica refused before they reached the log (no leader, overload, "
          "refused by the Raft core).")),
      snapshots_received(r->NewCounter("synod_raft_snapshots_received_total",
                                       "State snapshots installed from the leader.")),
      log_sync_seconds(r->NewHistogram(
          "synod_storage_log_sync_duration_seconds",
          "Latency of a synced Raft log write (entries + hard state in one fsynced RocksDB "
          "write; one per Ready, shared by every proposal in it).",
          LatencyBuckets())),
      snapshots_sent(r->NewCounter("synod_raft_snapshots_sent_total",
                                   "State snapshots streamed to followers, by outcome.",
                                   {{"result", "ok"}})),
      snapshots_send_failed(r->NewCounter("synod_raft_snapshots_sent_total",
                                          "State snapshots streamed to followers, by outcome.",
                                          {{"result", "failed"}})),
      peer_links_refused(r->NewCounter(
          "synod_peer_refused_total",
          kPeerRefusedHelp,
          {{"what", "raft_link"}})),
      peer_calls_refused(r->NewCounter(
          "synod_peer_refused_total",
          kPeerRefusedHelp,
          {{"what", "peer_rpc"}})),
      peer_messages_refused(
          r->NewCounter("synod_peer_refused_total", kPeerRefusedHelp, {{"what", "raft_message"}})),
      proposals_committed(
          r->NewCounter("synod_raft_proposals_committed_total",
                        "Commands this replica proposed that were committed and applied.")),
      sessions_expired(r->NewCounter("synod_sessions_expired_total",
                                     "Client sessions expired by the leader, as applied here.")),
      apply_batch_seconds(r->NewHistogram(
          "synod_storage_apply_batch_duration_seconds",
          "Latency of applying one batch of committed entries (decode, validate, one unsynced "
          "RocksDB WriteBatch with the applied index).",
          LatencyBuckets())),
      apply_batch_entries(r->NewHistogram("synod_storage_apply_batch_entries",
                                          "Committed entries per apply batch.",
                                          {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096})),
      client_streams_refused(r->NewCounter("synod_client_refused_total", kClientRefusedHelp,
                                           {{"what", "stream_per_ip"}})),
      zk_connections_refused_per_ip(r->NewCounter("synod_client_refused_total", kClientRefusedHelp,
                                                  {{"what", "zk_connection_per_ip"}})),
      zk_connections_refused_total(r->NewCounter("synod_client_refused_total", kClientRefusedHelp,
                                                 {{"what", "zk_connection_total"}})) {}

}  // namespace synod::server::metrics
