// synod: one replica of a Synod cluster.
//
// With no flags it runs a single-replica cluster in ./synod-data, serving
// clients on 127.0.0.1:7001. A three-replica cluster on one machine:
//   synod --id=1 --data_dir=d1 --initial_cluster=$C
//   synod --id=2 --data_dir=d2 --initial_cluster=$C
//   synod --id=3 --data_dir=d3 --initial_cluster=$C
// with C=1=127.0.0.1:7101/127.0.0.1:7001,2=127.0.0.1:7102/127.0.0.1:7002,
//        3=127.0.0.1:7103/127.0.0.1:7003   (deploy/cluster.sh does this).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/internal/parse.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "server/replica.h"
#include "server/restore.h"

#ifndef SYNOD_VERSION
#define SYNOD_VERSION "unknown"
#endif

ABSL_FLAG(uint64_t, id, 1, "This member's id (1, 2, ...), as in --initial_cluster.");
ABSL_FLAG(std::string, data_dir, "synod-data",
          "Directory for this replica's Raft log, state and snapshots. Created if missing; "
          "it remembers its cluster and member id and refuses to start as another.");
ABSL_FLAG(std::string, client_addr, "",
          "host:port for the client API (Tree, Cluster). Default: this member's client "
          "address in --initial_cluster, else 127.0.0.1:7001.");
ABSL_FLAG(std::string, peer_addr, "",
          "host:port for Raft traffic between replicas. Default: this member's address in "
          "--initial_cluster, else 127.0.0.1:7101.");
ABSL_FLAG(std::string, initial_cluster, "",
          "Founding members, comma-separated id=peer_host:port[/client_host:port], e.g. "
          "1=127.0.0.1:7101/127.0.0.1:7001,2=127.0.0.1:7102/127.0.0.1:7002. Identical on "
          "every founding member; the cluster id is derived from it. Empty: a cluster of "
          "this replica alone.");
ABSL_FLAG(std::string, join, "",
          "Client addresses (comma-separated) of running members of a cluster to join, "
          "instead of --initial_cluster. Add this member first (Cluster.MemberAdd / "
          "synodctl member add): it joins as a learner with an empty data dir and is caught "
          "up by the leader; promote it once it has caught up.");
ABSL_FLAG(std::string, restore, "",
          "Backup snapshot file (synodctl snapshot save) to start a NEW cluster from: the "
          "whole file is verified (a damaged one is refused, nothing changed), then this "
          "member is created in the empty or absent --data_dir with the file's tree, at the "
          "file's revision. Start every founding member with the same file and the same "
          "--initial_cluster. A data dir made by this restore starts normally when the flag "
          "is given again; any other non-empty dir is refused.");
ABSL_FLAG(int32_t, heartbeat_ms, 100, "Leader heartbeat interval (one Raft tick), ms.");
ABSL_FLAG(int32_t, election_ms, 1000,
          "Election timeout, ms: a follower that hears no leader for a random time in "
          "[election_ms, 2 x election_ms) starts an election. At least 3 x heartbeat_ms.");
ABSL_FLAG(uint64_t, snapshot_threshold, 100000,
          "Applied entries between two state snapshots, at least; a large state waits "
          "longer (its size / 1 KiB entries). The Raft log keeps one to two spacings of "
          "entries. 0 disables snapshots (the log then grows forever).");
ABSL_FLAG(int32_t, cache_mb, 64,
          "RocksDB memory, MiB: block cache, index/filter partitions and memtables "
          "together (memtables take at most half). With --log_cache_mb and a fixed "
          "overhead it bounds the replica's memory, whatever the tree's size.");
ABSL_FLAG(int32_t, log_cache_mb, 16,
          "Recent Raft log entries kept in memory, MiB (a follower behind by less is "
          "served without reading the disk).");
ABSL_FLAG(int32_t, log_segment_mb, 16,
          "Size of one Raft log segment file, MiB (1 to 1024). Segments are filled with "
          "zeros before use so that the fsync of each write overwrites allocated blocks; "
          "the log's disk use is a few segments.");
// The next five seed the cluster settings: the first leader of a new
// cluster records its values in the log, and from then on the log's values
// hold on every replica (synodctl cluster settings get|set).
ABSL_FLAG(int64_t, max_data_bytes, 1 << 20,
          "Largest node data accepted (TOO_LARGE above). Seeds the cluster setting: the "
          "log's value is used once recorded.");
ABSL_FLAG(int32_t, max_multi_ops, 1000,
          "Most ops in one Multi (TOO_MANY_OPS above). Seeds the cluster setting: the log's "
          "value is used once recorded.");
ABSL_FLAG(int32_t, history_per_node, 10,
          "Versions of each node kept for History and versioned Get. Seeds the cluster "
          "setting, which is fixed when the cluster starts.");
ABSL_FLAG(uint64_t, history_retention, 1000000,
          "Revisions of watch events and node history kept: the leader compacts older ones, "
          "and a watch or read from below the compaction revision fails with COMPACTED. "
          "0: keep all (the event log then grows without bound).");
ABSL_FLAG(int32_t, max_page_size, 10000, "Most children in one GetChildren page.");
ABSL_FLAG(int32_t, request_timeout_ms, 10000,
          "Longest a request may wait on this replica when the client sets no shorter "
          "deadline; a write that times out may or may not have been applied.");
ABSL_FLAG(int64_t, min_session_timeout_ms, 4000,
          "Shortest session timeout granted; Session.Open requests are clamped up to it. "
          "Seeds the cluster setting: the log's value is used once recorded.");
ABSL_FLAG(int64_t, max_session_timeout_ms, 40000,
          "Longest session timeout granted; Session.Open requests are clamped down to it. "
          "Seeds the cluster setting: the log's value is used once recorded.");
ABSL_FLAG(int64_t, max_ephemerals_per_session, 10000,
          "Most ephemeral nodes one session may hold; a create beyond it fails with "
          "QUOTA_EXCEEDED. Seeds the cluster setting: the log's value is used once recorded.");
ABSL_FLAG(int32_t, digest_check_ms, 10000,
          "How often the leader proposes a check of the tree digest at its applied revision; "
          "a replica whose digest there differs stops. 0: never.");
ABSL_FLAG(int32_t, max_request_mb, 8,
          "Largest client request, MiB; larger ones are refused unread (gRPC status "
          "RESOURCE_EXHAUSTED, which the client library reports as TOO_LARGE).");
ABSL_FLAG(int64_t, max_pending_requests, 10000,
          "Most client requests pending on this replica at once (writes being committed, "
          "reads waiting for an index); beyond it a request is refused at once with "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_pending_mb, 64,
          "Most data, MiB, of the write requests pending at once; beyond it a request is "
          "refused at once with RESOURCE_EXHAUSTED (one request alone is always taken).");
ABSL_FLAG(uint64_t, max_revision_ahead, 100000,
          "A read whose min_revision is more than this beyond the commit index the replica "
          "knows fails at once with REVISION_AHEAD (gRPC OUT_OF_RANGE) instead of waiting.");
ABSL_FLAG(int64_t, max_watches_per_stream, 100000,
          "Most watches on one Watch stream; beyond it a create is refused with "
          "TOO_MANY_WATCHES.");
ABSL_FLAG(int64_t, max_watches_per_session, 100000,
          "Most watches of one session over all streams; beyond it TOO_MANY_WATCHES.");
ABSL_FLAG(int64_t, max_watches, 1000000,
          "Most watches on this replica; beyond it TOO_MANY_WATCHES.");
ABSL_FLAG(int64_t, grpc_memory_mb, 512,
          "Memory, MiB, gRPC may use for client connections, calls and their buffers; under "
          "pressure it refuses new calls and closes idle connections instead of growing.");
ABSL_FLAG(std::string, zk_addr, "",
          "host:port for ZooKeeper clients (kazoo, zkCli, Curator); empty: off");
ABSL_FLAG(uint64_t, zk_max_frame_bytes, (1u << 20) + 64 * 1024,
          "largest ZooKeeper request frame (jute.maxbuffer plus headers); a larger one "
          "closes its connection");
ABSL_FLAG(uint64_t, zk_max_client_cnxns, 60,
          "Most ZooKeeper connections one client IP may hold at once (ZooKeeper's "
          "maxClientCnxns); a connection beyond it is closed as it is accepted, logged (at "
          "most once per 10 s) and counted in synod_client_refused_total. 0: no limit.");
ABSL_FLAG(uint64_t, zk_max_connections, 10000,
          "Most ZooKeeper connections open at once from all clients; a connection beyond it "
          "is closed as it is accepted, logged and counted. At least 1.");
ABSL_FLAG(std::string, zk_sasl_users, "",
          "A JAAS login file as ZooKeeper's (java.security.auth.login.config): every "
          "user_<name>=\"<password>\" of the DigestLoginModule in its Server section is a SASL "
          "(DIGEST-MD5) user of the ZooKeeper port, identity sasl:<name>. Read at start; a "
          "malformed file stops the replica. Empty: SASL off (the sasl request adds no "
          "identity).");
ABSL_FLAG(std::string, zk_sasl_superuser, "",
          "A user of --zk_sasl_users who is the superuser once authenticated (ZooKeeper's "
          "zookeeper.superUser). Empty: none.");
ABSL_FLAG(std::string, zk_4lw_whitelist, "srvr",
          "Four-letter words answered on the ZooKeeper port, as ZooKeeper's "
          "4lw.commands.whitelist: comma-separated words of ruok, srvr, stat, mntr, conf, envi, "
          "cons, wchs, isro, or * for all; srvr is always answered. Any other word gets "
          "ZooKeeper's \"is not executed because it is not in the whitelist.\" answer.");
ABSL_FLAG(uint64_t, max_streams_per_ip, 1000,
          "Most long-lived streams (Watch, Session.KeepAlive, Tree.Pipeline) one client IP may "
          "hold open on the client port; the stream beyond it ends at once with "
          "RESOURCE_EXHAUSTED and is counted in synod_client_refused_total. gRPC does not "
          "expose connections, so this bounds streams, not connections. 0: no limit.");
ABSL_FLAG(std::string, metrics_addr, "",
          "host:port of an HTTP listener serving /metrics (Prometheus text format), /health "
          "(200 while this replica is a serving member that knows a leader, else 503) and "
          "/ready (200 once it is also within --ready_max_lag of the commit index). Default "
          "empty: no listener. Example: 127.0.0.1:9101 (port 0: any free port).");
ABSL_FLAG(uint64_t, ready_max_lag, 1000,
          "/ready answers 503 while this replica's applied index trails the commit index it "
          "knows by more than this many entries.");
ABSL_FLAG(std::string, log_level, "info",
          "Least severe log lines written to stderr: debug, info, warning or error.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain for the client port; empty: the client port is plaintext. "
          "Reloaded on SIGHUP (docs/security.md).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificate(s) that client certificates must be signed by. With "
          "--peer_tls_ca, certificates that CA signed are accepted too (a replica "
          "joining with --join presents its peer certificate).");
ABSL_FLAG(std::string, tls_client_auth, "none",
          "Client certificates on the client port: none (not asked for), request (verified "
          "when sent), require (a client without one is refused). Needs --tls_client_ca "
          "unless none.");
ABSL_FLAG(std::string, peer_tls_cert, "",
          "PEM certificate chain for the peer port (mutual TLS between replicas: the Raft "
          "link and the Peer service); empty: the peer port is plaintext. It is presented as a "
          "server and as a client certificate, and must name this replica's peer address. "
          "Reloaded on SIGHUP.");
ABSL_FLAG(std::string, peer_tls_key, "", "PEM private key of --peer_tls_cert.");
ABSL_FLAG(std::string, peer_tls_ca, "",
          "PEM CA certificate(s) that every replica's peer certificate is signed by; a peer "
          "with another is refused.");
ABSL_FLAG(std::string, superuser_digest, "",
          "user:base64(SHA-1(user:password)), as ZooKeeper's superDigest: a caller presenting "
          "those digest credentials (synod-digest) is the superuser on this replica. Give "
          "every replica the same. Empty: none.");
ABSL_FLAG(int64_t, auth_token_ttl_s, 3600, "Lifetime of a token from Auth.Authenticate, seconds.");
ABSL_FLAG(std::string, fault_injection_file, "",
          "TESTS ONLY. A file listing peer ids this replica drops all Raft traffic to and "
          "from (re-read when it changes). Leave empty in production.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "one replica of a Synod cluster (ZooKeeper-style tree, Raft, RocksDB, gRPC).\n"
      "With no flags: a single-replica cluster in ./synod-data, clients on 127.0.0.1:7001.\n"
      "SIGTERM or SIGINT stop it cleanly; SIGHUP reloads the TLS certificates.\n"
      "Restore a backup into a new cluster: start each founding member with "
      "--restore=FILE --initial_cluster=... --id=N --data_dir=EMPTY_DIR.");
  // --help lists the flags defined in this file (absl's default looks for
  // a file named after the binary).
  absl::FlagsUsageConfig usage;
  usage.contains_helpshort_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "server/main.cc");
  };
  usage.contains_help_flags = usage.contains_helpshort_flags;
  usage.version_string = [] { return std::string("synod ") + SYNOD_VERSION + "\n"; };
  absl::SetFlagsUsageConfig(usage);
  // absl::ParseCommandLine of Debian's abseil (20220623) exits with status 1
  // after printing --help: parse without the usage flags, then print what
  // they ask for and exit 0, as a successful --help should.
  absl::flags_internal::ParseCommandLineImpl(
      argc, argv, absl::flags_internal::ArgvListAction::kRemoveParsedArgs,
      absl::flags_internal::UsageFlagsAction::kIgnoreUsage,
      absl::flags_internal::OnUndefinedFlag::kAbortIfUndefined);
  if (absl::flags_internal::HandleUsageFlags(std::cout, absl::ProgramUsageMessage()) != -1) {
    return 0;
  }

  // Every thread started from here on inherits the blocked set; only the
  // main thread takes the stop signals, with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  // SIGHUP reloads the TLS certificates (on the main thread too).
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  synod::server::ReplicaOptions options;
  options.id = absl::GetFlag(FLAGS_id);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.client_addr = absl::GetFlag(FLAGS_client_addr);
  options.peer_addr = absl::GetFlag(FLAGS_peer_addr);
  options.initial_cluster = absl::GetFlag(FLAGS_initial_cluster);
  options.join = absl::GetFlag(FLAGS_join);
  options.heartbeat = absl::Milliseconds(absl::GetFlag(FLAGS_heartbeat_ms));
  options.election_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_election_ms));
  options.snapshot_threshold = absl::GetFlag(FLAGS_snapshot_threshold);
  options.cache_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_cache_mb)) << 20;
  options.log_cache_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_log_cache_mb)) << 20;
  options.log_segment_bytes = static_cast<uint64_t>(absl::GetFlag(FLAGS_log_segment_mb)) << 20;
  options.max_data_bytes = absl::GetFlag(FLAGS_max_data_bytes);
  options.max_multi_ops = static_cast<size_t>(absl::GetFlag(FLAGS_max_multi_ops));
  options.history_per_node = static_cast<uint32_t>(absl::GetFlag(FLAGS_history_per_node));
  options.history_retention = absl::GetFlag(FLAGS_history_retention);
  options.max_page_size = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_page_size));
  options.request_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_request_timeout_ms));
  options.max_request_bytes = absl::GetFlag(FLAGS_max_request_mb) << 20;
  options.min_session_timeout_ms = absl::GetFlag(FLAGS_min_session_timeout_ms);
  options.digest_check_interval = absl::Milliseconds(absl::GetFlag(FLAGS_digest_check_ms));
  options.max_session_timeout_ms = absl::GetFlag(FLAGS_max_session_timeout_ms);
  options.max_ephemerals_per_session = absl::GetFlag(FLAGS_max_ephemerals_per_session);
  options.fault_injection_file = absl::GetFlag(FLAGS_fault_injection_file);
  options.metrics_addr = absl::GetFlag(FLAGS_metrics_addr);
  options.zk_addr = absl::GetFlag(FLAGS_zk_addr);
  options.zk_max_frame_bytes = absl::GetFlag(FLAGS_zk_max_frame_bytes);
  options.zk_max_client_cnxns = absl::GetFlag(FLAGS_zk_max_client_cnxns);
  options.zk_max_connections = absl::GetFlag(FLAGS_zk_max_connections);
  options.zk_4lw_whitelist = absl::GetFlag(FLAGS_zk_4lw_whitelist);
  options.zk_sasl_users = absl::GetFlag(FLAGS_zk_sasl_users);
  options.zk_sasl_superuser = absl::GetFlag(FLAGS_zk_sasl_superuser);
  options.max_streams_per_ip = absl::GetFlag(FLAGS_max_streams_per_ip);
  if (options.zk_max_connections == 0) {
    synod::base::Log("synod: --zk_max_connections must be at least 1");
    return 2;
  }
  options.ready_max_lag = absl::GetFlag(FLAGS_ready_max_lag);
  options.client_tls.cert = absl::GetFlag(FLAGS_tls_cert);
  options.client_tls.key = absl::GetFlag(FLAGS_tls_key);
  options.client_tls.ca = absl::GetFlag(FLAGS_tls_client_ca);
  options.peer_tls.cert = absl::GetFlag(FLAGS_peer_tls_cert);
  options.peer_tls.key = absl::GetFlag(FLAGS_peer_tls_key);
  options.peer_tls.ca = absl::GetFlag(FLAGS_peer_tls_ca);
  if (auto auth = synod::server::ParseClientAuth(absl::GetFlag(FLAGS_tls_client_auth));
      auth.ok()) {
    options.client_auth = *auth;
  } else {
    synod::base::Log("synod: --tls_client_auth: %s",
                       std::string(auth.status().message()).c_str());
    return 2;
  }
  {
    const int64_t bounds[] = {absl::GetFlag(FLAGS_max_pending_requests),
                              absl::GetFlag(FLAGS_max_pending_mb),
                              absl::GetFlag(FLAGS_max_watches_per_stream),
                              absl::GetFlag(FLAGS_max_watches_per_session),
                              absl::GetFlag(FLAGS_max_watches),
                              absl::GetFlag(FLAGS_grpc_memory_mb)};
    for (int64_t b : bounds) {
      if (b <= 0) {
        synod::base::Log(
            "synod: --max_pending_*, --max_watches* and --grpc_memory_mb must be "
            "positive");
        return 2;
      }
    }
  }
  options.max_pending_requests = static_cast<size_t>(absl::GetFlag(FLAGS_max_pending_requests));
  options.max_pending_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_pending_mb)) << 20;
  options.max_revision_ahead = absl::GetFlag(FLAGS_max_revision_ahead);
  options.max_watches_per_stream = static_cast<size_t>(absl::GetFlag(FLAGS_max_watches_per_stream));
  options.max_watches_per_session =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_watches_per_session));
  options.max_watches = static_cast<size_t>(absl::GetFlag(FLAGS_max_watches));
  options.grpc_memory_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_grpc_memory_mb)) << 20;
  options.superuser_digest = absl::GetFlag(FLAGS_superuser_digest);
  options.auth_token_ttl = absl::Seconds(absl::GetFlag(FLAGS_auth_token_ttl_s));
  if (synod::base::LogLevel level;
      synod::base::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    synod::base::SetMinLogLevel(level);
  } else {
    synod::base::Log("synod: --log_level must be debug, info, warning or error");
    return 2;
  }
  if (options.heartbeat <= absl::ZeroDuration() || options.max_data_bytes <= 0 ||
      absl::GetFlag(FLAGS_cache_mb) <= 0 || absl::GetFlag(FLAGS_max_request_mb) <= 0 ||
      options.history_per_node == 0 || options.min_session_timeout_ms <= 0 ||
      options.max_session_timeout_ms < options.min_session_timeout_ms) {
    synod::base::Log("synod: flags must be positive (see --help)");
    return 2;
  }
  if (absl::GetFlag(FLAGS_log_segment_mb) < 1 || absl::GetFlag(FLAGS_log_segment_mb) > 1024) {
    synod::base::Log("synod: --log_segment_mb must be between 1 and 1024");
    return 2;
  }

  if (const std::string restore = absl::GetFlag(FLAGS_restore); !restore.empty()) {
    if (absl::Status s = synod::server::RestoreMember(options, restore); !s.ok()) {
      synod::base::Log(synod::base::LogLevel::kError, "synod: --restore: %s", s.ToString().c_str());
      return 1;
    }
  }
  auto replica = synod::server::Replica::Start(options);
  if (!replica.ok()) {
    synod::base::Log("synod: %s", replica.status().ToString().c_str());
    return 1;
  }
  int sig = 0;
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
    // Failures are logged by ReloadTls; the replica goes on with what it had.
    (*replica)->ReloadTls().IgnoreError();
  }
  synod::base::Log("synod: signal %d, shutting down", sig);
  (*replica)->Shutdown();
  return 0;
}
