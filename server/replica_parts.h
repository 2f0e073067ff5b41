// Replica::Parts: everything a running replica owns, in the order
// Replica::Start builds it (and so destroyed in reverse). Private to the
// files that implement Replica (replica.cc, replica_grpc.cc,
// replica_monitoring.cc, replica_zk.cc).
#pragma once

#include <memory>
#include <string>

#include "grpcpp/server.h"
#include "server/apply_fanout.h"
#include "server/auth/auth_service.h"
#include "server/auth/authenticator.h"
#include "server/fault_injection.h"
#include "server/link_tls.h"
#include "server/metrics/api_metrics.h"
#include "server/metrics/metrics_http.h"
#include "server/metrics/metrics_registry.h"
#include "server/metrics/server_metrics.h"
#include "server/peer_listener.h"
#include "server/peer_service.h"
#include "server/peer_transport.h"
#include "server/per_ip_limit.h"
#include "server/periodic_duties.h"
#include "server/raft_driver.h"
#include "server/replica.h"
#include "server/replica_state.h"
#include "server/request_tracker.h"
#include "server/services/cluster_service.h"
#include "server/services/request_flow.h"
#include "server/services/tree_service.h"
#include "server/session/session_service.h"
#include "server/session/session_tracker.h"
#include "server/session_backend.h"
#include "server/settings_seed.h"
#include "server/state_machine.h"
#include "server/tls_files.h"
#include "server/watch/task_runner.h"
#include "server/watch/tree_store_history.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_service.h"
#include "server/zk/sasl_users.h"
#include "storage/data_dir.h"
#include "storage/log_store.h"
#include "storage/rocks_env.h"
#include "storage/rocks_tree_store.h"
#include "storage/snapshot_files.h"
#include "storage/snapshot_inbox.h"
#include "server/zk/zk_listener.h"

namespace synod::server {

// Declared in the order they are built; destroyed in reverse.
struct Replica::Parts {
  ReplicaOptions options;
  // Before everything that counts into them.
  std::unique_ptr<metrics::MetricsRegistry> registry;
  std::unique_ptr<metrics::ServerMetrics> metrics;
  std::unique_ptr<metrics::ApiMetrics> api_metrics;
  std::string client_addr;
  std::string peer_addr;
  std::unique_ptr<storage::DataDir> data_dir;
  std::unique_ptr<storage::RocksEnv> env;
  std::unique_ptr<storage::LogStore> log;
  std::unique_ptr<storage::RocksTreeStore> store;
  std::unique_ptr<storage::SnapshotFiles> snapshots;
  std::unique_ptr<storage::SnapshotInbox> snapshot_inbox;  // outlives peer_server
  std::unique_ptr<ReplicaState> state;
  std::unique_ptr<FaultInjection> faults;
  std::unique_ptr<RequestTracker> tracker;
  std::unique_ptr<SessionTracker> sessions;
  std::unique_ptr<HeartbeatBatcher> heartbeats;
  std::unique_ptr<TreeStoreHistory> history;
  std::unique_ptr<WorkerThread> watch_runner;
  std::unique_ptr<WatchHub> watch_hub;
  std::unique_ptr<ApplyFanout> fanout;
  std::unique_ptr<StateMachine> state_machine;
  // Peer TLS (null: plaintext): staged files, the Raft link's contexts.
  std::unique_ptr<StagedTlsFiles> peer_tls;
  std::unique_ptr<LinkTls> link_tls;
  std::unique_ptr<PeerTransport> transport;
  std::unique_ptr<RaftDriver> driver;
  std::unique_ptr<RequestFlow> flow;
  std::unique_ptr<Authenticator> authenticator;
  std::unique_ptr<AuthService> auth_service;
  std::unique_ptr<PeerService> peer_service;
  // Streams per client IP on the client port (--max_streams_per_ip); the
  // services below count into it, so it outlives them.
  std::unique_ptr<PerIpLimiter> stream_limiter;
  std::unique_ptr<TreeService> tree_service;
  std::unique_ptr<ClusterService> cluster_service;
  std::unique_ptr<ReplicaSessionBackend> session_backend;
  std::unique_ptr<SessionService> session_service;
  std::unique_ptr<WatchService> watch_service;
  std::unique_ptr<SettingsSeed> settings_seed;
  std::unique_ptr<PeriodicDuties> keeper;
  std::unique_ptr<grpc::Server> peer_server;
  // After peer_server: stopped before it (it hands connections to it).
  std::unique_ptr<PeerListener> peer_listener;
  // Staged copies of the client port's TLS files (null: plaintext).
  std::unique_ptr<StagedTlsFiles> client_tls;
  std::unique_ptr<grpc::Server> client_server;
  // The ZooKeeper port's SASL users (--zk_sasl_users); null when off.
  // Before zk_listener: its connections read them.
  std::unique_ptr<const zk::SaslUsers> zk_sasl_users;
  // ZooKeeper clients (--zk_addr); null when off. Serves through the
  // services above.
  std::unique_ptr<zk::ZkListener> zk_listener;
  // What the ZooKeeper port serves (Prometheus and mntr); with zk_listener.
  std::unique_ptr<zk::ZkMetrics> zk_metrics;
  // Last: destroyed first, it reads most of the above.
  std::unique_ptr<metrics::MetricsHttpServer> metrics_http;
  bool shut_down = false;
};

}  // namespace synod::server
