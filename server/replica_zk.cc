// Replica's ZooKeeper port (--zk_addr): the listener, its four-letter
// words and metrics, and SASL (--zk_sasl_users). Called from
// Replica::Start once the client services exist: the port serves through
// them.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "server/replica.h"
#include "server/replica_parts.h"
#include "server/zk/four_letter_words.h"
#include "server/zk/sasl_server.h"
#include "server/zk/sasl_users.h"
#include "server/zk/zk_listener.h"

#ifndef SYNOD_VERSION
#define SYNOD_VERSION "unknown"
#endif

namespace synod::server {

absl::Status Replica::StartZk(Parts* p) {
  const ReplicaOptions& options = p->options;
  if (options.zk_addr.empty() &&
      (!options.zk_sasl_users.empty() || !options.zk_sasl_superuser.empty())) {
    return absl::InvalidArgumentError("--zk_sasl_users and --zk_sasl_superuser need --zk_addr");
  }
  if (options.zk_sasl_users.empty() && !options.zk_sasl_superuser.empty()) {
    return absl::InvalidArgumentError("--zk_sasl_superuser needs --zk_sasl_users");
  }
  if (options.zk_addr.empty()) return absl::OkStatus();
  zk::ZkListenerOptions zk_options;
  zk_options.addr = options.zk_addr;
  zk_options.max_frame_bytes = options.zk_max_frame_bytes;
  zk_options.max_connections_per_ip = options.zk_max_client_cnxns;
  zk_options.max_connections = options.zk_max_connections;
  metrics::Counter* zk_refused_per_ip = p->metrics->zk_connections_refused_per_ip;
  metrics::Counter* zk_refused_total = p->metrics->zk_connections_refused_total;
  zk_options.on_refused_per_ip = [zk_refused_per_ip] { zk_refused_per_ip->Inc(); };
  zk_options.on_refused_total = [zk_refused_total] { zk_refused_total->Inc(); };
  absl::StatusOr<absl::flat_hash_set<std::string>> words =
      zk::ParseFourLetterWhitelist(options.zk_4lw_whitelist);
  if (!words.ok()) return words.status();
  zk_options.four_letter_whitelist = *std::move(words);
  zk_options.version = SYNOD_VERSION;
  zk_options.conf = {{"dataDir", options.data_dir},
                     {"minSessionTimeout", absl::StrCat(options.min_session_timeout_ms)},
                     {"maxSessionTimeout", absl::StrCat(options.max_session_timeout_ms)},
                     {"serverId", absl::StrCat(options.id)},
                     {"synod.clientAddr", p->client_addr},
                     {"synod.peerAddr", p->peer_addr}};
  {
    const ReplicaState* state = p->state.get();
    const SessionTracker* sessions = p->sessions.get();
    const storage::RocksEnv* env = p->env.get();
    // Atomics and a RocksDB property: nothing waits on the raft or apply
    // threads.
    zk_options.describe = [state, sessions, env](zk::FourLetterInput* in) {
      in->serving = state->serving() && state->leader() != 0;
      in->mode = state->role() == raft::Role::kLeader ? "leader" : "follower";
      in->zxid = state->applied();
      in->global_sessions = static_cast<int64_t>(sessions->size());
      uint64_t nodes = 0;
      if (env->db()->GetIntProperty(env->cf(storage::ColumnFamily::kNodes),
                                    "rocksdb.estimate-num-keys", &nodes)) {
        in->node_count = static_cast<int64_t>(nodes);
      }
    };
  }
  p->zk_metrics = std::make_unique<zk::ZkMetrics>();
  p->registry->AddCollector([m = p->zk_metrics.get()](std::vector<metrics::MetricFamily>* out) {
    m->Collect(out);
  });
  zk::ZkContext zk_context;
  TreeService* tree = p->tree_service.get();
  // Each connection's caller: its address and its addauth identities.
  zk_context.serve = [tree](const v1::PipelineCall& call,
                            const std::shared_ptr<const v1::Caller>& caller,
                            v1::PipelineReply* reply, Replier replier) {
    tree->Serve(call, caller, reply, std::move(replier));
  };
  zk_context.superuser_digest = options.superuser_digest;
  if (!options.zk_sasl_users.empty()) {
    absl::StatusOr<zk::SaslUsers> users = zk::LoadSaslUsers(options.zk_sasl_users);
    if (!users.ok()) return users.status();
    if (!options.zk_sasl_superuser.empty() && !users->contains(options.zk_sasl_superuser)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--zk_sasl_superuser \"", options.zk_sasl_superuser,
                       "\" is not a user of ", options.zk_sasl_users));
    }
    if (absl::Status s = zk::InitSaslServer(); !s.ok()) return s;
    base::Log("synod: SASL (DIGEST-MD5) on the ZooKeeper port, %zu users from %s",
              users->size(), options.zk_sasl_users.c_str());
    p->zk_sasl_users = std::make_unique<const zk::SaslUsers>(*std::move(users));
    zk_context.sasl_users = p->zk_sasl_users.get();
    zk_context.sasl_superuser = options.zk_sasl_superuser;
  }
  zk_context.sessions = p->session_backend.get();
  zk_context.watches = p->watch_hub.get();
  zk_context.store = p->store.get();
  zk_context.max_multi_read_bytes = options.zk_max_frame_bytes;
  zk_context.metrics = p->zk_metrics.get();
  absl::StatusOr<std::unique_ptr<zk::ZkListener>> zk_listener =
      zk::ZkListener::Start(zk_options, std::move(zk_context));
  if (!zk_listener.ok()) return zk_listener.status();
  p->zk_listener = *std::move(zk_listener);
  base::Log("synod: ZooKeeper clients on port %d", p->zk_listener->port());
  return absl::OkStatus();
}

}  // namespace synod::server
