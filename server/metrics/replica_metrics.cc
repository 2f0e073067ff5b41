#include "server/metrics/replica_metrics.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace synod::server::metrics {
namespace {

MetricFamily Family(const char* name, const char* help, MetricType type = MetricType::kGauge) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

MetricFamily One(const char* name, const char* help, double value) {
  MetricFamily f = Family(name, help);
  f.samples.push_back(Sample{{}, value});
  return f;
}

void CollectRaft(const ReplicaState& state, const storage::LogStore& log,
                 std::vector<MetricFamily>* out) {
  const std::vector<v1::Member> members = state.members();
  bool learner = false;
  int voters = 0;
  int learners = 0;
  for (const v1::Member& m : members) {
    (m.learner() ? learners : voters) += 1;
    if (m.id() == state.self()) learner = m.learner();
  }
  const raft::Role role = state.role();
  MetricFamily roles = Family("synod_raft_role",
                              "1 for this replica's current Raft role, 0 for the others "
                              "(a learner follows but does not vote).");
  const std::pair<const char*, bool> all[] = {
      {"leader", role == raft::Role::kLeader},
      {"candidate", role == raft::Role::kCandidate},
      {"pre_candidate", role == raft::Role::kPreCandidate},
      {"follower", role == raft::Role::kFollower && !learner},
      {"learner", role == raft::Role::kFollower && learner},
  };
  for (const auto& [name, on] : all)
    roles.samples.push_back(Sample{{{"role", name}}, on ? 1.0 : 0.0});
  out->push_back(std::move(roles));
  out->push_back(One("synod_raft_term", "Current Raft term.", static_cast<double>(state.term())));
  out->push_back(One("synod_raft_leader_id", "Member id of the leader this replica knows; 0: none.",
                     static_cast<double>(state.leader())));
  out->push_back(One("synod_raft_has_leader", "1 if this replica knows a leader.",
                     state.leader() != raft::kNoNode ? 1 : 0));
  out->push_back(One("synod_raft_commit_index", "Highest log index known to be committed.",
                     static_cast<double>(state.commit())));
  out->push_back(One("synod_raft_applied_index", "Highest log index applied to the tree here.",
                     static_cast<double>(state.applied())));
  MetricFamily counts = Family("synod_raft_members",
                               "Members in this replica's view of the "
                               "cluster, by kind.");
  counts.samples.push_back(Sample{{{"kind", "voter"}}, static_cast<double>(voters)});
  counts.samples.push_back(Sample{{{"kind", "learner"}}, static_cast<double>(learners)});
  out->push_back(std::move(counts));
  const raft::LogIndex first = log.FirstIndex();
  const raft::LogIndex last = log.LastIndex();
  out->push_back(One("synod_raft_log_first_index", "First index held in the Raft log.",
                     static_cast<double>(first)));
  out->push_back(One("synod_raft_log_last_index", "Last index held in the Raft log.",
                     static_cast<double>(last)));
  out->push_back(One("synod_raft_log_entries",
                     "Entries held in the Raft log (the rest is in the log snapshot).",
                     last + 1 >= first ? static_cast<double>(last + 1 - first) : 0.0));
}

void CollectRocks(const storage::RocksEnv& env, std::vector<MetricFamily>* out) {
  rocksdb::DB* db = env.db();
  struct PerCf {
    const char* property;
    const char* name;
    const char* help;
  };
  static constexpr PerCf kPerCf[] = {
      {"rocksdb.total-sst-files-size", "synod_rocksdb_sst_files_bytes",
       "Size of all SST files of the column family (rocksdb.total-sst-files-size)."},
      {"rocksdb.estimate-live-data-size", "synod_rocksdb_live_data_bytes",
       "Estimated live data in the column family (rocksdb.estimate-live-data-size)."},
      {"rocksdb.cur-size-all-mem-tables", "synod_rocksdb_memtable_bytes",
       "Active and unflushed memtables of the column family (rocksdb.cur-size-all-mem-tables)."},
      {"rocksdb.estimate-num-keys", "synod_rocksdb_estimated_keys",
       "Estimated keys in the column family (rocksdb.estimate-num-keys)."},
      {"rocksdb.estimate-pending-compaction-bytes", "synod_rocksdb_pending_compaction_bytes",
       "Bytes compaction estimates it must rewrite "
       "(rocksdb.estimate-pending-compaction-bytes)."},
  };
  for (const PerCf& p : kPerCf) {
    MetricFamily f = Family(p.name, p.help);
    for (int i = 0; i < storage::kNumColumnFamilies; ++i) {
      const auto cf = static_cast<storage::ColumnFamily>(i);
      uint64_t v = 0;
      if (db->GetIntProperty(env.cf(cf), p.property, &v)) {
        f.samples.push_back(
            Sample{{{"cf", storage::ColumnFamilyName(cf)}}, static_cast<double>(v)});
      }
    }
    out->push_back(std::move(f));
  }
  struct Db {
    const char* property;
    const char* name;
    const char* help;
  };
  static constexpr Db kDb[] = {
      {"rocksdb.num-running-compactions", "synod_rocksdb_running_compactions",
       "Compactions running now."},
      {"rocksdb.num-running-flushes", "synod_rocksdb_running_flushes", "Flushes running now."},
      {"rocksdb.block-cache-usage", "synod_rocksdb_block_cache_bytes",
       "Memory used by the block cache."},
      {"rocksdb.actual-delayed-write-rate", "synod_rocksdb_delayed_write_rate",
       "Write rate RocksDB currently throttles to, bytes/s (0: not throttled)."},
  };
  for (const Db& p : kDb) {
    uint64_t v = 0;
    if (db->GetIntProperty(p.property, &v))
      out->push_back(One(p.name, p.help, static_cast<double>(v)));
  }
  uint64_t stopped = 0;
  if (db->GetIntProperty("rocksdb.is-write-stopped", &stopped)) {
    out->push_back(One("synod_rocksdb_write_stopped", "1 while RocksDB stops writes (stall).",
                       static_cast<double>(stopped)));
  }
}

}  // namespace

void AddReplicaCollector(MetricsRegistry* registry, const ReplicaSources& s) {
  registry->AddCollector([s](std::vector<MetricFamily>* out) {
    MetricFamily info = Family("synod_build_info", "Always 1; labels: version and member id.");
    info.samples.push_back(Sample{{{"version", s.version},
                                   {"member", absl::StrCat(s.state->self())},
                                   {"cluster", absl::StrCat(s.state->cluster_id())}},
                                  1});
    out->push_back(std::move(info));
    CollectRaft(*s.state, *s.log, out);
    const storage::StoreMeta meta = s.store->meta();
    // A double holds 52 bits exactly: enough to compare replicas at one
    // revision (the full digest is in Cluster.Status).
    out->push_back(One("synod_tree_digest",
                       "Low 52 bits of the tree digest at synod_tree_digest_revision; replicas at "
                       "the same revision must agree.",
                       static_cast<double>(meta.digest & ((uint64_t{1} << 52) - 1))));
    out->push_back(One("synod_tree_digest_revision", "Revision the tree digest is taken at.",
                       static_cast<double>(meta.applied_index)));
    out->push_back(One("synod_tree_compact_revision",
                       "History and watch events at or below this revision are gone.",
                       static_cast<double>(meta.compact_revision)));
    uint64_t nodes = 0;
    if (s.env->db()->GetIntProperty(s.env->cf(storage::ColumnFamily::kNodes),
                                    "rocksdb.estimate-num-keys", &nodes)) {
      out->push_back(One("synod_tree_nodes_estimate",
                         "Nodes in the tree, as RocksDB estimates its keys (approximate).",
                         static_cast<double>(nodes)));
    }
    out->push_back(One("synod_sessions_open", "Client sessions open (tracked on every replica).",
                       static_cast<double>(s.sessions->size())));
    const WatchHub::Stats watch = s.watches->GetStats();
    out->push_back(One("synod_watches_active", "Watches registered on this replica.",
                       static_cast<double>(watch.watches)));
    out->push_back(One("synod_watch_streams", "Open watch streams on this replica.",
                       static_cast<double>(watch.streams)));
    out->push_back(One("synod_watch_queued_events", "Watch events queued for slow streams.",
                       static_cast<double>(watch.queued)));
    MetricFamily overflows = Family("synod_watch_stream_overflows_total",
                                    "Watch streams that overflowed their buffer and were "
                                    "canceled.",
                                    MetricType::kCounter);
    overflows.samples.push_back(Sample{{}, static_cast<double>(watch.overflows)});
    out->push_back(std::move(overflows));
    CollectRocks(*s.env, out);
  });
}

}  // namespace synod::server::metrics
