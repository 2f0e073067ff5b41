// Replica: one synod process's parts, wired together, started and stopped
// in the right order.
//
// Start: data dir (identity, lock) -> RocksDB -> LogStore (bootstrapped on
// first start) -> TreeStore (restored from the log snapshot if a crash
// interrupted an install) -> apply thread -> raft thread -> peer and client
// gRPC servers.
//
// Shutdown (SIGTERM): refuse new requests, stop the raft thread, apply
// everything already committed and handed over, complete what is still
// pending (UNAVAILABLE), stop the gRPC servers and the transport, flush
// RocksDB. kill -9 instead loses nothing acknowledged: every acknowledged
// write was fsynced in the Raft log of a majority before it was applied.
//
// Thread: Start, Shutdown and the destructor from one owner thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/tls_files.h"

namespace synod::server {

struct ReplicaOptions {
  uint64_t id = 1;
  std::string data_dir = "synod-data";
  // Empty: taken from this member's --initial_cluster entry, else the
  // defaults 127.0.0.1:7001 (client) / 127.0.0.1:7101 (peer).
  std::string client_addr;
  std::string peer_addr;
  // Empty: a cluster of this replica alone (unless `join` is set).
  std::string initial_cluster;
  // Client addresses of running members of the cluster to join (this
  // member must have been added with MemberAdd). Exclusive with
  // initial_cluster.
  std::string join;
  absl::Duration heartbeat = absl::Milliseconds(100);
  absl::Duration election_timeout = absl::Milliseconds(1000);
  uint64_t snapshot_threshold = 100000;
  size_t cache_bytes = 64u << 20;      // RocksDB block cache and memtables (--cache_mb)
  size_t log_cache_bytes = 16u << 20;  // LogStore tail cache (--log_cache_mb)
  uint64_t log_segment_bytes = 16u << 20;  // LogStore segment files (--log_segment_mb)
  int64_t max_data_bytes = 1 << 20;
  size_t max_multi_ops = 1000;
  uint32_t history_per_node = 10;
  // Revisions of watch events and node history kept (the leader compacts
  // older ones); 0: all, forever.
  uint64_t history_retention = 0;
  uint32_t max_page_size = 10000;
  absl::Duration request_timeout = absl::Seconds(10);
  absl::Duration digest_check_interval = absl::Seconds(10);  // zero: off
  int64_t min_session_timeout_ms = 4000;
  int64_t max_session_timeout_ms = 40000;
  int64_t max_ephemerals_per_session = 10000;
  int max_request_bytes = 8 << 20;   // gRPC max receive size, client API
  std::string fault_injection_file;  // tests only
  // host:port of the HTTP listener for /metrics, /health and /ready (port 0:
  // any free one, see metrics_port()); empty: no listener.
  std::string metrics_addr;
  // host:port of the ZooKeeper client protocol listener (port 0: any free
  // one, see zk_port()); empty: off. Frames over zk_max_frame_bytes close
  // their connection.
  std::string zk_addr;
  size_t zk_max_frame_bytes = (1u << 20) + 64 * 1024;
  // ZooKeeper connections one client IP may hold (maxClientCnxns), and in
  // all; beyond them a new connection is closed at accept. 0 per IP: no
  // limit.
  size_t zk_max_client_cnxns = 60;
  size_t zk_max_connections = 10000;
  // Four-letter words answered on the ZooKeeper port (ZooKeeper's
  // 4lw.commands.whitelist: comma-separated, "*" for all; srvr always).
  std::string zk_4lw_whitelist = "srvr";
  // SASL (DIGEST-MD5) on the ZooKeeper port: the JAAS file whose Server
  // section lists the users (zk/sasl_users.h); empty: the sasl op is
  // answered as by a ZooKeeper with no SASL login. A SASL user named
  // zk_sasl_superuser (ZooKeeper's zookeeper.superUser) is the superuser.
  std::string zk_sasl_users;
  std::string zk_sasl_superuser;
  // Long-lived streams (Watch, Session.KeepAlive, Tree.Pipeline) one client
  // IP may hold open on the client port; the one beyond ends at once with
  // RESOURCE_EXHAUSTED. 0: no limit.
  size_t max_streams_per_ip = 1000;
  // /ready: how many entries the applied index may trail the commit index
  // this replica knows.
  uint64_t ready_max_lag = 1000;
  // Load bounds (docs/operations.md, "Bounds"): requests pending at once
  // and their data, beyond which RESOURCE_EXHAUSTED; how far a min_revision
  // may be beyond the known commit index (REVISION_AHEAD beyond); watches
  // per stream, per session, per replica (TOO_MANY_WATCHES beyond); memory
  // gRPC may use for the client API's connections and calls.
  size_t max_pending_requests = 10000;
  size_t max_pending_bytes = 64u << 20;
  uint64_t max_revision_ahead = 100000;
  size_t max_watches_per_stream = 100000;
  size_t max_watches_per_session = 100000;
  size_t max_watches = 1000000;
  size_t grpc_memory_bytes = 512u << 20;
  // TLS on the client port (docs/security.md); an empty cert: plaintext.
  // The CA is the one client certificates must be signed by (needed unless
  // client_auth is kNone).
  TlsFiles client_tls;
  ClientAuth client_auth = ClientAuth::kNone;
  // Mutual TLS on the peer port (Raft link and Peer service); all three
  // files or none. A peer whose certificate this CA did not sign is refused.
  TlsFiles peer_tls;
  // Authentication (auth.proto): the ZooKeeper superDigest
  // "user:base64(SHA-1(user:password))" that makes a caller the superuser
  // (empty: none), and how long tokens from Auth.Authenticate last.
  std::string superuser_digest;
  absl::Duration auth_token_ttl = absl::Hours(1);
};

class Replica {
 public:
  static absl::StatusOr<std::unique_ptr<Replica>> Start(const ReplicaOptions& options);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Clean stop as described above. Idempotent.
  void Shutdown();
  // Checks the TLS files again and, where they pass, uses them for new
  // connections (SIGHUP). A file that fails keeps the one in use and is
  // logged as an error. Errors: InvalidArgument (some file failed).
  absl::Status ReloadTls();

  const std::string& client_addr() const;
  const std::string& peer_addr() const;
  // The port /metrics is served on; 0 without --metrics_addr.
  int metrics_port() const;
  // The ZooKeeper port; 0 without --zk_addr.
  int zk_port() const;

 private:
  struct Parts;
  explicit Replica(std::unique_ptr<Parts> parts);
  static absl::Status StartMetrics(Parts* p);
  // replica_grpc.cc: the peer gRPC server behind the peer port's listener,
  // then (once the services exist) the client gRPC server.
  static absl::Status StartPeerServer(Parts* p, uint64_t cluster_id, int max_peer_message);
  static absl::Status StartClientServer(Parts* p);
  // replica_zk.cc: the ZooKeeper port and its SASL users (off without
  // --zk_addr).
  static absl::Status StartZk(Parts* p);
  std::unique_ptr<Parts> parts_;
};

}  // namespace synod::server
