#include "server/replica.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server.h"
#include "server/apply_fanout.h"
#include "server/cluster_config.h"
#include "server/link_tls.h"
#include "server/fault_injection.h"
#include "server/join.h"
#include "base/log.h"
#include "server/metrics/api_metrics.h"
#include "server/metrics/health.h"
#include "server/metrics/metrics_http.h"
#include "server/metrics/metrics_registry.h"
#include "server/metrics/process_metrics.h"
#include "server/metrics/replica_metrics.h"
#include "server/metrics/server_metrics.h"
#include "server/peer_service.h"
#include "server/peer_transport.h"
#include "server/raft_driver.h"
#include "server/replica_parts.h"
#include "server/replica_setup.h"
#include "server/replica_state.h"
#include "server/request_tracker.h"
#include "server/services/cluster_service.h"
#include "server/services/request_flow.h"
#include "server/services/tree_service.h"
#include "server/session/session_service.h"
#include "server/session/session_tracker.h"
#include "server/session_backend.h"
#include "server/periodic_duties.h"
#include "server/settings_seed.h"
#include "server/state_machine.h"
#include "server/tcp_socket.h"
#include "server/watch/task_runner.h"
#include "server/watch/tree_store_history.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_service.h"
#include "storage/data_dir.h"
#include "storage/log_store.h"
#include "storage/path.h"
#include "storage/rocks_env.h"
#include "storage/rocks_tree_store.h"
#include "storage/snapshot_descriptor.h"
#include "storage/snapshot_files.h"
#include "storage/snapshot_inbox.h"
#include "storage/state_recovery.h"

#ifndef SYNOD_VERSION
#define SYNOD_VERSION "unknown"
#endif

namespace synod::server {


Replica::Replica(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Replica::~Replica() { Shutdown(); }

const std::string& Replica::client_addr() const { return parts_->client_addr; }
const std::string& Replica::peer_addr() const { return parts_->peer_addr; }
int Replica::metrics_port() const {
  return parts_->metrics_http != nullptr ? parts_->metrics_http->port() : 0;
}

int Replica::zk_port() const {
  return parts_->zk_listener != nullptr ? parts_->zk_listener->port() : 0;
}

absl::StatusOr<std::unique_ptr<Replica>> Replica::Start(const ReplicaOptions& options) {
#ifdef NDEBUG
  // Debian's abseil is built without NDEBUG, so every absl::Mutex lock (ours
  // and gRPC's, which wraps absl::Mutex) runs deadlock detection: a global
  // spinlock and a hash-table lookup per acquisition, shared by all threads.
  // Release builds turn it off; debug builds and the TSan job still check
  // lock order.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  auto p = std::make_unique<Parts>();
  p->options = options;
  p->registry = std::make_unique<metrics::MetricsRegistry>();
  p->metrics = std::make_unique<metrics::ServerMetrics>(p->registry.get());
  p->api_metrics = std::make_unique<metrics::ApiMetrics>(std::vector<std::string>{
      "synod.v1.Tree", "synod.v1.Cluster", "synod.v1.Session", "synod.v1.Watch"});
  if (options.id == 0) return absl::InvalidArgumentError("--id must be >= 1");
  if (options.election_timeout < 3 * options.heartbeat) {
    return absl::InvalidArgumentError("--election_ms must be at least 3 x --heartbeat_ms");
  }
  // The flags only seed the cluster settings: the log's are the ones used.
  storage::ClusterSettings flag_settings;
  flag_settings.max_data_bytes = options.max_data_bytes;
  flag_settings.max_multi_ops = static_cast<uint32_t>(options.max_multi_ops);
  flag_settings.history_per_node = options.history_per_node;
  flag_settings.min_session_timeout_ms = options.min_session_timeout_ms;
  flag_settings.max_session_timeout_ms = options.max_session_timeout_ms;
  flag_settings.max_ephemerals_per_session = options.max_ephemerals_per_session;
  if (absl::Status s = storage::ValidateSettings(flag_settings); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("flags: ", s.message()));
  }
  InitialCluster cluster;
  const bool joining = !options.join.empty();
  if (joining) {
    if (!options.initial_cluster.empty()) {
      return absl::InvalidArgumentError("give --join or --initial_cluster, not both");
    }
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        JoinCredentials(options);
    if (!credentials.ok()) return credentials.status();
    absl::StatusOr<JoinInfo> info =
        DiscoverCluster(options.join, options.id, absl::Seconds(5), *credentials);
    if (!info.ok()) return info.status();
    cluster.cluster_id = info->cluster_id;
    cluster.members = info->members;
    p->peer_addr = options.peer_addr.empty() ? info->self.peer_addr() : options.peer_addr;
    if (p->peer_addr != info->self.peer_addr()) {
      return absl::InvalidArgumentError(absl::StrCat("--peer_addr=", p->peer_addr, " but member ",
                                                     options.id, " was added with ",
                                                     info->self.peer_addr()));
    }
    p->client_addr = !options.client_addr.empty()        ? options.client_addr
                     : !info->self.client_addr().empty() ? info->self.client_addr()
                                                         : "127.0.0.1:7001";
  } else if (absl::Status s = ResolveCluster(options, &cluster, &p->client_addr, &p->peer_addr);
             !s.ok()) {
    return s;
  }

  // Before the data dir is created: a replica that cannot have its ports
  // (another process holds them) says which and leaves nothing behind.
  if (absl::Status s = CheckCanListen(p->peer_addr, "peers"); !s.ok()) return s;
  if (absl::Status s = CheckCanListen(p->client_addr, "clients"); !s.ok()) return s;

  storage::Identity identity;
  identity.cluster_id = cluster.cluster_id;
  identity.member_id = options.id;
  absl::StatusOr<std::unique_ptr<storage::DataDir>> dir =
      storage::DataDir::Open(options.data_dir, identity);
  if (!dir.ok()) return dir.status();
  p->data_dir = *std::move(dir);

  storage::RocksEnv::Options env_options;
  env_options.path = p->data_dir->db_path();
  env_options.block_cache_bytes = options.cache_bytes;
  absl::StatusOr<std::unique_ptr<storage::RocksEnv>> env = storage::RocksEnv::Open(env_options);
  if (!env.ok()) return env.status();
  p->env = *std::move(env);

  storage::LogStore::Options log_options;
  log_options.cache_bytes = options.log_cache_bytes;
  log_options.dir = p->data_dir->raft_log_dir();
  log_options.segment_bytes = options.log_segment_bytes;
  absl::StatusOr<std::unique_ptr<storage::LogStore>> log =
      storage::LogStore::Open(log_options);
  if (!log.ok()) {
    return absl::Status(log.status().code(),
                        absl::StrCat(log.status().message(),
                                     " -- this replica's Raft log cannot be trusted; move its data "
                                     "dir away and let it rejoin empty"));
  }
  p->log = *std::move(log);
  if (p->log->IsEmpty() && joining) {
    base::Log("joining cluster %llu as member %llu: waiting for the leader's snapshot",
        static_cast<unsigned long long>(cluster.cluster_id),
        static_cast<unsigned long long>(options.id));
  } else if (p->log->IsEmpty()) {
    raft::ConfState conf;
    for (const v1::Member& m : cluster.members) conf.add_voters(m.id());
    if (absl::Status s =
            p->log->Bootstrap(conf, storage::EncodeSnapshotDescriptor(cluster.members));
        !s.ok()) {
      return s;
    }
    base::Log("bootstrapped member %llu of a new cluster (%zu members, id %llu)",
        static_cast<unsigned long long>(options.id), cluster.members.size(),
        static_cast<unsigned long long>(cluster.cluster_id));
  }

  // A restore cut short by a crash is finished below from the log's
  // snapshot file (the log records a received snapshot only once its file
  // is on disk, and before the state is restored from it).
  storage::RocksTreeStore::OpenOptions store_options;
  store_options.allow_interrupted_restore = true;
  // history_ring 0: the store's history follows the recorded settings.
  absl::StatusOr<std::unique_ptr<storage::RocksTreeStore>> store =
      storage::RocksTreeStore::Open(p->env.get(), store_options);
  if (!store.ok()) return store.status();
  p->store = *std::move(store);

  p->snapshots = std::make_unique<storage::SnapshotFiles>(p->data_dir->snapshot_dir());
  if (absl::Status s = p->snapshots->Init(); !s.ok()) return s;
  absl::StatusOr<raft::Snapshot> log_snapshot = p->log->GetSnapshot();
  if (!log_snapshot.ok()) return log_snapshot.status();
  const raft::LogIndex snap_index = log_snapshot->metadata().index();
  absl::StatusOr<storage::Recovery> recovery =
      storage::RecoverState(p->store.get(), p->store->restore_pending(), *p->snapshots, snap_index);
  if (!recovery.ok()) return recovery.status();
  if (*recovery == storage::Recovery::kRestored) {
    base::Log("restored state from snapshot %llu (the log starts after it)",
        static_cast<unsigned long long>(snap_index));
  }
  p->snapshots->Prune(snap_index);
  p->snapshot_inbox = std::make_unique<storage::SnapshotInbox>(p->snapshots.get());

  p->state = std::make_unique<ReplicaState>(cluster.cluster_id, options.id);
  p->faults = std::make_unique<FaultInjection>(options.fault_injection_file);
  p->faults->Poll();
  RequestTracker::Limits tracker_limits;
  tracker_limits.max_requests = options.max_pending_requests;
  tracker_limits.max_bytes = options.max_pending_bytes;
  p->tracker = std::make_unique<RequestTracker>(tracker_limits);
  p->sessions = std::make_unique<SessionTracker>();
  // Followers forward heartbeats at a quarter of the shortest session
  // timeout the cluster settings allow: a session sees several refreshes
  // per timeout (PeriodicDuties follows changes).
  const int64_t shortest_session_ms =
      p->store->meta().settings.value_or(storage::ClusterSettings()).min_session_timeout_ms;
  p->heartbeats = std::make_unique<HeartbeatBatcher>(
      std::max(absl::Milliseconds(100), absl::Milliseconds(shortest_session_ms) / 4));
  p->history = std::make_unique<TreeStoreHistory>(p->store.get());
  p->watch_runner = std::make_unique<WorkerThread>();
  WatchHubOptions hub_options;
  hub_options.validate_path = [](std::string_view path) { return storage::ValidatePath(path); };
  hub_options.max_watches_per_stream = options.max_watches_per_stream;
  hub_options.max_watches_per_session = options.max_watches_per_session;
  hub_options.max_watches = options.max_watches;
  p->watch_hub = std::make_unique<WatchHub>(hub_options, p->history.get(), p->watch_runner.get(),
                                            p->store->meta().applied_index);
  p->fanout = std::make_unique<ApplyFanout>(p->watch_hub.get(), p->sessions.get(), p->store.get());

  // The compiled defaults, for the entries before the log records settings
  // (the same on every replica, whatever its flags).
  const storage::ApplyLimits limits;
  StateMachine::Options sm_options;
  sm_options.self = options.id;
  p->state_machine = std::make_unique<StateMachine>(
      sm_options, p->store.get(), limits, p->tracker.get(), p->state.get(), p->snapshots.get());
  p->state_machine->set_observer(p->fanout.get());
  p->state_machine->set_metrics(p->metrics.get());

  const int max_peer_message = std::max(64 << 20, 4 * options.max_request_bytes);
  PeerTransport::Options transport_options;
  transport_options.cluster_id = cluster.cluster_id;
  transport_options.self = options.id;
  transport_options.max_message_bytes = max_peer_message;
  if (const TlsFiles& tls = options.peer_tls;
      !tls.cert.empty() || !tls.key.empty() || !tls.ca.empty()) {
    if (tls.cert.empty() || tls.key.empty() || tls.ca.empty()) {
      return absl::InvalidArgumentError(
          "peer port TLS needs a certificate, its key and the peer CA (all three)");
    }
    p->peer_tls = std::make_unique<StagedTlsFiles>("peer port", tls, options.data_dir + "/tls-peer",
                                                   /*signed_by_ca=*/true);
    if (absl::Status s = p->peer_tls->Stage(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("peer port TLS: ", s.message()));
    }
    p->link_tls = std::make_unique<LinkTls>();
    if (absl::Status s = p->link_tls->Reload(p->peer_tls->identity_path(), p->peer_tls->ca_path());
        !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("peer port TLS: ", s.message()));
    }
    transport_options.link_tls = p->link_tls.get();
    transport_options.channel_credentials = WatchedChannelCredentials(*p->peer_tls);
  }
  p->transport = std::make_unique<PeerTransport>(transport_options, nullptr, p->snapshots.get(),
                                                 p->faults.get());

  RaftDriver::Options driver_options;
  driver_options.self = options.id;
  driver_options.cluster_id = cluster.cluster_id;
  driver_options.tick = options.heartbeat;
  driver_options.election_ticks =
      static_cast<int>(absl::FDivDuration(options.election_timeout, options.heartbeat));
  driver_options.snapshot_threshold = options.snapshot_threshold;
  driver_options.max_link_frame_bytes = static_cast<size_t>(max_peer_message);
  driver_options.seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) ^ options.id;
  if (joining) {
    // Until the leader's snapshot tells it the membership, a joining member
    // answers the leader through the addresses the cluster gave it.
    for (const v1::Member& m : cluster.members) {
      if (m.id() != options.id) driver_options.seed_peers[m.id()] = m.peer_addr();
    }
  }
  p->driver = std::make_unique<RaftDriver>(
      driver_options, p->log.get(), p->store.get(), p->transport.get(), p->state_machine.get(),
      p->tracker.get(), p->state.get(), p->snapshots.get(), p->faults.get());
  p->transport->set_mailbox(p->driver.get());
  p->driver->set_metrics(p->metrics.get());

  // Peers first: the raft thread's messages need somewhere to go, and peers
  // may already be talking to us.
  p->peer_service = std::make_unique<PeerService>(cluster.cluster_id, options.id, p->driver.get(),
                                                  p->snapshot_inbox.get(), p->faults.get());
  {
    ReplicaState* state = p->state.get();
    SessionTracker* sessions = p->sessions.get();
    p->peer_service->set_keep_alive_handler(
        [state, sessions](const v1::KeepAliveBatchRequest& request,
                          v1::KeepAliveBatchResponse* response) {
          if (state->role() != raft::Role::kLeader) {
            state->FillHeader(response->mutable_header(), v1::NOT_LEADER, "not the leader");
            return;
          }
          for (uint64_t id : sessions->TouchAll(request.session_ids(), absl::Now())) {
            response->add_expired(id);
          }
          state->FillHeader(response->mutable_header());
        });
    // An empty list: a joining replica that has applied no membership yet.
    p->peer_service->set_is_member([state](raft::NodeId id) {
      const std::vector<v1::Member> members = state->members();
      return members.empty() || std::any_of(members.begin(), members.end(),
                                            [id](const v1::Member& m) { return m.id() == id; });
    });
    metrics::Counter* refused = p->metrics->peer_calls_refused;
    p->peer_service->set_on_refused([refused] { refused->Inc(); });
  }
  if (absl::Status s = StartPeerServer(p.get(), cluster.cluster_id, max_peer_message); !s.ok()) {
    return s;
  }

  p->state_machine->Start();
  if (absl::Status s = p->driver->Start(); !s.ok()) return s;

  p->flow = std::make_unique<RequestFlow>(p->state.get(), p->tracker.get(), p->driver.get(),
                                          p->state_machine.get(), options.request_timeout,
                                          options.max_revision_ahead);
  {
    AuthOptions auth_options;
    auth_options.superuser_digest = options.superuser_digest;
    auth_options.token_ttl = options.auth_token_ttl;
    if (absl::Status s = CheckAuthOptions(auth_options); !s.ok()) return s;
    storage::TreeStore* store = p->store.get();
    p->authenticator = std::make_unique<Authenticator>(
        [store] { return store->meta().auth; }, std::move(auth_options));
    AuthService::Options service_options;
    service_options.request_timeout = options.request_timeout;
    RequestFlow* flow = p->flow.get();
    p->auth_service = std::make_unique<AuthService>(
        service_options, p->authenticator.get(), p->state.get(),
        [flow](absl::Time deadline, v1::Command command, RequestTracker::Callback done) {
          flow->Write(deadline, std::move(command), std::move(done));
        });
  }
  // Every service learns who a call is from the same way.
  const Authenticator* authenticator = p->authenticator.get();
  CallerResolver callers = [authenticator](const grpc::ServerContextBase& context) {
    return authenticator->Resolve(context);
  };
  TreeService::Limits tree_limits;
  tree_limits.max_page_size = options.max_page_size;
  p->tree_service = std::make_unique<TreeService>(p->flow.get(), p->store.get(), tree_limits,
                                                  p->api_metrics.get(), callers);
  p->cluster_service = std::make_unique<ClusterService>(
      p->flow.get(), p->driver.get(), p->store.get(), p->snapshots.get(), SYNOD_VERSION,
      p->authenticator.get());
  p->session_backend =
      std::make_unique<ReplicaSessionBackend>(p->flow.get(), p->store.get(), p->sessions.get(),
                                              p->heartbeats.get(), options.request_timeout);
  p->session_service = std::make_unique<SessionService>(p->session_backend.get(), callers);
  {
    const ReplicaState* state = p->state.get();
    p->watch_service = std::make_unique<WatchService>(
        p->watch_hub.get(),
        [state] {
          v1::ResponseHeader header;
          state->FillHeader(&header);
          return header;
        },
        [authenticator](const grpc::CallbackServerContext& context) {
          return authenticator->Resolve(context);
        });
  }
  {
    PerIpLimiter::Options limit;
    limit.max_per_ip = options.max_streams_per_ip;
    limit.what = "streams";
    limit.setting = "--max_streams_per_ip";
    metrics::Counter* refused = p->metrics->client_streams_refused;
    limit.on_refused = [refused] { refused->Inc(); };
    p->stream_limiter = std::make_unique<PerIpLimiter>(std::move(limit));
    p->tree_service->set_stream_limiter(p->stream_limiter.get());
    p->session_service->set_stream_limiter(p->stream_limiter.get());
    p->watch_service->set_stream_limiter(p->stream_limiter.get());
  }
  PeriodicDuties::Options keeper_options;
  keeper_options.digest_check = options.digest_check_interval;
  keeper_options.history_retention = options.history_retention;
  p->keeper = std::make_unique<PeriodicDuties>(keeper_options, p->state.get(), p->driver.get(),
                                               p->store.get(), p->transport.get(), p->sessions.get(),
                                               p->heartbeats.get());
  p->settings_seed = std::make_unique<SettingsSeed>(flag_settings);
  p->keeper->set_settings_seed(p->settings_seed.get());
  p->keeper->Start();
  if (absl::Status s = StartMetrics(p.get()); !s.ok()) return s;
  if (absl::Status s = StartClientServer(p.get()); !s.ok()) return s;
  if (absl::Status s = StartZk(p.get()); !s.ok()) return s;
  base::Log("synod %s member %llu serving clients on %s%s, peers on %s, data in %s", SYNOD_VERSION,
      static_cast<unsigned long long>(options.id), p->client_addr.c_str(),
      p->client_tls != nullptr ? " (TLS)" : "", p->peer_addr.c_str(), options.data_dir.c_str());
  {
    const std::string open =
        PlaintextListeners(p->client_addr, p->client_tls != nullptr, p->peer_addr,
                           p->peer_tls != nullptr, options.zk_addr);
    if (!open.empty()) {
      base::Log(base::LogLevel::kWarning,
          "synod: serving %s without TLS: anyone who can reach the address can read and change "
          "the data (see docs/security.md)",
          open.c_str());
    }
  }
  return std::unique_ptr<Replica>(new Replica(std::move(p)));
}

absl::Status Replica::ReloadTls() {
  Parts* p = parts_.get();
  if (p->client_tls == nullptr && p->peer_tls == nullptr) {
    base::Log("synod: TLS reload asked for, but no listener uses TLS");
    return absl::OkStatus();
  }
  absl::Status result;
  for (StagedTlsFiles* files : {p->client_tls.get(), p->peer_tls.get()}) {
    if (files == nullptr) continue;
    absl::Status s = files->Stage();
    if (s.ok() && files == p->peer_tls.get()) {
      s = p->link_tls->Reload(files->identity_path(), files->ca_path());
    }
    if (s.ok()) {
      base::Log("synod: %s TLS files reloaded", files->what().c_str());
    } else {
      base::Log(base::LogLevel::kError,
          "synod: %s TLS files NOT reloaded, the previous certificate stays in use: %s",
          files->what().c_str(), std::string(s.message()).c_str());
      result.Update(s);
    }
  }
  return result;
}

void Replica::Shutdown() {
  Parts* p = parts_.get();
  if (p == nullptr || p->shut_down) return;
  p->shut_down = true;
  p->state->set_serving(false);
  p->watch_service->Shutdown();  // ends watch streams: they never finish by themselves
  p->auth_service->Stop();       // queued password work answers UNAVAILABLE (not serving)
  if (p->zk_listener != nullptr) p->zk_listener->Stop();
  p->keeper->Stop();
  p->driver->Stop();
  p->state_machine->Stop();  // applies what was handed over, completes those
  p->tracker->Stop();        // the rest: UNAVAILABLE
  // Every unary call has been answered by now; what is left are streams
  // that never end by themselves (session keep-alives, peers' Raft
  // streams): cancel them after a short grace instead of waiting.
  const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(200);
  p->client_server->Shutdown(deadline);
  p->peer_listener->Stop();
  p->peer_server->Shutdown(std::chrono::system_clock::now());
  p->transport->Stop();
  p->watch_runner->Stop();
  if (p->metrics_http != nullptr) p->metrics_http->Stop();
  if (absl::Status s = p->env->Flush(); !s.ok()) {
    base::Log("flush at shutdown failed: %s", s.ToString().c_str());
  }
  base::Log("member %llu stopped cleanly at applied index %llu",
      static_cast<unsigned long long>(p->options.id),
      static_cast<unsigned long long>(p->state_machine->applied()));
}

}  // namespace synod::server
