#include "server/restore.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "server/cluster_config.h"
#include "storage/data_dir.h"
#include "storage/file_io.h"
#include "storage/log_store.h"
#include "storage/rocks_env.h"
#include "storage/rocks_tree_store.h"
#include "storage/snapshot.h"
#include "storage/snapshot_descriptor.h"
#include "storage/snapshot_files.h"

namespace synod::server {
namespace {

constexpr char kMarkerName[] = "RESTORED_FROM";
// The log term of the restored snapshot, the same on every founding member.
constexpr raft::Term kRestoreTerm = 1;

// What the marker says: enough to recognise the same file again.
std::string MarkerText(const storage::SnapshotSummary& s) {
  return absl::StrCat("index ", s.info.meta.applied_index, " checksum ", s.info.checksum, "\n");
}

// Writes `text` to a new file and syncs it (a failed sync aborts).
absl::Status WriteSyncedFile(const std::string& path, const std::string& text) {
  absl::StatusOr<std::unique_ptr<storage::File>> out =
      storage::FileIO::Posix()->Open(path, storage::FileIO::OpenMode::kCreate);
  if (!out.ok()) return out.status();
  if (absl::Status s = (*out)->PWrite(0, text); !s.ok()) return s;
  storage::CheckSynced((*out)->DataSync());
  return absl::OkStatus();
}

// True if `path` is absent or an empty directory; false if it holds
// something. Errors: FailedPrecondition if it is not a directory.
absl::StatusOr<bool> IsAbsentOrEmpty(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return true;
  if (!std::filesystem::is_directory(path, ec)) {
    return absl::FailedPreconditionError(absl::StrCat("--data_dir=", path, " is not a directory"));
  }
  return std::filesystem::is_empty(path, ec);
}

// The founding membership, resolved as Replica::Start does for a new
// cluster (this member's client address filled in if the spec lacks it).
absl::StatusOr<InitialCluster> FoundingMembers(const ReplicaOptions& options) {
  std::string spec = options.initial_cluster;
  if (spec.empty()) {
    spec = absl::StrCat(options.id, "=",
                        options.peer_addr.empty() ? "127.0.0.1:7101" : options.peer_addr, "/",
                        options.client_addr.empty() ? "127.0.0.1:7001" : options.client_addr);
  }
  absl::StatusOr<InitialCluster> cluster = ParseInitialCluster(spec);
  if (!cluster.ok()) return cluster.status();
  auto self = std::find_if(cluster->members.begin(), cluster->members.end(),
                           [&](const v1::Member& m) { return m.id() == options.id; });
  if (self == cluster->members.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--id=", options.id, " is not in --initial_cluster=", spec));
  }
  if (self->client_addr().empty()) {
    self->set_client_addr(options.client_addr.empty() ? "127.0.0.1:7001" : options.client_addr);
  }
  return cluster;
}

// Builds the whole member in `dir` (which does not exist yet).
absl::Status BuildMember(const ReplicaOptions& options, const InitialCluster& cluster,
                         const std::string& snapshot_file, const storage::SnapshotSummary& summary,
                         const std::string& dir) {
  const uint64_t index = summary.info.meta.applied_index;
  storage::Identity identity;
  identity.cluster_id = cluster.cluster_id;
  identity.member_id = options.id;
  absl::StatusOr<std::unique_ptr<storage::DataDir>> data_dir =
      storage::DataDir::Open(dir, identity);
  if (!data_dir.ok()) return data_dir.status();

  // The file first: the log snapshot below refers to it by index.
  storage::SnapshotFiles files((*data_dir)->snapshot_dir());
  if (absl::Status s = files.Init(); !s.ok()) return s;
  if (absl::Status s = files.CopyIn(snapshot_file, index); !s.ok()) return s;

  storage::RocksEnv::Options env_options;
  env_options.path = (*data_dir)->db_path();
  env_options.block_cache_bytes = std::min<size_t>(options.cache_bytes, 64u << 20);
  absl::StatusOr<std::unique_ptr<storage::RocksEnv>> env = storage::RocksEnv::Open(env_options);
  if (!env.ok()) return env.status();
  storage::LogStore::Options log_options;
  log_options.dir = (*data_dir)->raft_log_dir();
  absl::StatusOr<std::unique_ptr<storage::LogStore>> log =
      storage::LogStore::Open(log_options);
  if (!log.ok()) return log.status();
  if (!(*log)->IsEmpty()) return absl::InternalError(absl::StrCat(dir, " already holds a log"));
  // The history ring follows the file's recorded cluster settings.
  absl::StatusOr<std::unique_ptr<storage::RocksTreeStore>> store =
      storage::RocksTreeStore::Open(env->get());
  if (!store.ok()) return store.status();

  // The copy is checked again as it is loaded (RestoreSnapshot verifies the
  // whole file before touching the state).
  absl::StatusOr<storage::SnapshotInfo> restored = (*store)->RestoreSnapshot(files.PathFor(index));
  if (!restored.ok()) return restored.status();
  const storage::StoreMeta meta = (*store)->meta();
  if (meta.applied_index != index || meta.digest != summary.info.meta.digest) {
    return absl::DataLossError(absl::StrCat("restored state is at index ", meta.applied_index,
                                            " with digest ", meta.digest, ", the file says index ",
                                            index, " digest ", summary.info.meta.digest));
  }

  // The log: a snapshot at (index, kRestoreTerm) with the founding voters,
  // exactly like LogStore::Bootstrap at kBootstrapIndex.
  raft::Snapshot snapshot;
  snapshot.mutable_metadata()->set_index(index);
  snapshot.mutable_metadata()->set_term(kRestoreTerm);
  for (const v1::Member& m : cluster.members) {
    snapshot.mutable_metadata()->mutable_conf_state()->add_voters(m.id());
  }
  snapshot.set_data(storage::EncodeSnapshotDescriptor(cluster.members));
  raft::HardState hard_state;
  hard_state.set_term(kRestoreTerm);
  hard_state.set_commit(index);
  (*log)->Save(snapshot, {}, hard_state, /*sync=*/true);
  if (absl::Status s = (*env)->Flush(); !s.ok()) return s;

  store->reset();
  log->reset();
  env->reset();
  if (absl::Status s = WriteSyncedFile(absl::StrCat(dir, "/", kMarkerName), MarkerText(summary));
      !s.ok()) {
    return s;
  }
  storage::CheckSynced(storage::FileIO::Posix()->SyncDir(dir));
  return absl::OkStatus();
}

}  // namespace

absl::Status RestoreMember(const ReplicaOptions& options, const std::string& snapshot_file) {
  if (!options.join.empty()) {
    return absl::InvalidArgumentError(
        "--restore starts a new cluster: give --initial_cluster, not --join");
  }
  if (options.id == 0) return absl::InvalidArgumentError("--id must be >= 1");
  absl::StatusOr<storage::SnapshotSummary> summary = storage::VerifySnapshot(snapshot_file);
  if (!summary.ok()) {
    return absl::Status(summary.status().code(),
                        absl::StrCat("snapshot ", snapshot_file, " refused: ",
                                     summary.status().message(), " (nothing was changed)"));
  }
  const uint64_t index = summary->info.meta.applied_index;
  if (index <= storage::kBootstrapIndex) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", snapshot_file, " is of a cluster that applied nothing (index ",
                     index, "): start a new cluster without --restore"));
  }
  absl::StatusOr<InitialCluster> cluster = FoundingMembers(options);
  if (!cluster.ok()) return cluster.status();

  std::string dir = options.data_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  absl::StatusOr<bool> empty = IsAbsentOrEmpty(dir);
  if (!empty.ok()) return empty.status();
  if (!*empty) {
    std::ifstream marker(absl::StrCat(dir, "/", kMarkerName));
    std::stringstream text;
    text << marker.rdbuf();
    if (marker && text.str() == MarkerText(*summary)) {
      base::Log(
          "data dir %s was restored from this snapshot (index %llu) before: starting it as it is",
          dir.c_str(), static_cast<unsigned long long>(index));
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(
        absl::StrCat("--data_dir=", dir,
                     " is not empty: --restore only creates a new member in an empty or absent "
                     "dir (to run the member that dir holds, start without --restore)"));
  }

  const std::string building = dir + ".restoring";
  std::error_code ec;
  std::filesystem::remove_all(building, ec);  // left by an interrupted restore
  if (ec) return absl::InternalError(absl::StrCat("remove ", building, ": ", ec.message()));
  if (absl::Status s = BuildMember(options, *cluster, snapshot_file, *summary, building); !s.ok()) {
    std::filesystem::remove_all(building, ec);
    return s;
  }
  std::filesystem::remove(dir, ec);  // empty (checked above) or absent
  if (absl::Status s = storage::FileIO::Posix()->Rename(building, dir); !s.ok()) return s;
  const std::filesystem::path parent = std::filesystem::absolute(dir, ec).parent_path();
  storage::CheckSynced(storage::FileIO::Posix()->SyncDir(parent.string()));
  base::Log(
      "event=restore index=%llu digest=%016llx nodes=%llu sessions=%llu members=%zu file=%s "
      "data_dir=%s",
      static_cast<unsigned long long>(index),
      static_cast<unsigned long long>(summary->info.meta.digest),
      static_cast<unsigned long long>(summary->nodes),
      static_cast<unsigned long long>(summary->sessions), cluster->members.size(),
      base::LogQuote(snapshot_file).c_str(), base::LogQuote(dir).c_str());
  return absl::OkStatus();
}

}  // namespace synod::server
