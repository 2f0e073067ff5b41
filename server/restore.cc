#include "server/restore.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "server/cluster_config.h"
#include "server/data_dir.h"
#include "server/snapshot_files.h"
#include "storage/log_store.h"
#include "storage/rocks_env.h"
#include "storage/rocks_tree_store.h"
#include "storage/snapshot.h"
#include "storage/snapshot_descriptor.h"

namespace synod::server {
namespace {

constexpr char kMarkerName[] = "RESTORED_FROM";
// The log term of the restored snapshot, the same on every founding member.
constexpr raft::Term kRestoreTerm = 1;

// What the marker says: enough to recognise the same file again.
std::string MarkerText(const storage::SnapshotSummary& s) {
  return absl::StrCat("index ", s.info.meta.applied_index, " checksum ", s.info.checksum, "\n");
}

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Writes `text` to a new file and fsyncs it.
absl::Status WriteSyncedFile(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", path);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = Errno("write", path);
      close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    absl::Status s = Errno("fsync", path);
    close(fd);
    return s;
  }
  if (close(fd) != 0) return Errno("close", path);
  return absl::OkStatus();
}

// Copies `from` to a new file `to` and fsyncs it.
absl::Status CopyFile(const std::string& from, const std::string& to) {
  const int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Errno("open", from);
  const int out = open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    absl::Status s = Errno("create", to);
    close(in);
    return s;
  }
  absl::Status status;
  std::string buf(1u << 20, '\0');
  for (;;) {
    const ssize_t n = read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = Errno("read", from);
      break;
    }
    if (n == 0) break;
    size_t done = 0;
    while (done < static_cast<size_t>(n)) {
      const ssize_t w = write(out, buf.data() + done, static_cast<size_t>(n) - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) break;
      done += static_cast<size_t>(w);
    }
    if (done < static_cast<size_t>(n)) {
      status = Errno("write", to);
      break;
    }
  }
  if (status.ok() && fsync(out) != 0) status = Errno("fsync", to);
  close(in);
  if (close(out) != 0 && status.ok()) status = Errno("close", to);
  return status;
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
  Identity identity;
  identity.cluster_id = cluster.cluster_id;
  identity.member_id = options.id;
  absl::StatusOr<std::unique_ptr<DataDir>> data_dir = DataDir::Open(dir, identity);
  if (!data_dir.ok()) return data_dir.status();

  // The file first: the log snapshot below refers to it by index.
  SnapshotFiles files((*data_dir)->snapshot_dir());
  if (absl::Status s = files.Init(); !s.ok()) return s;
  const std::string temp = files.TempPathFor(index, "restore");
  if (absl::Status s = CopyFile(snapshot_file, temp); !s.ok()) return s;
  if (absl::Status s = files.Publish(temp, index); !s.ok()) return s;

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
  return FsyncPath(dir);
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
  if (std::rename(building.c_str(), dir.c_str()) != 0) return Errno("rename to", dir);
  const std::filesystem::path parent = std::filesystem::absolute(dir, ec).parent_path();
  if (absl::Status s = FsyncPath(parent.string()); !s.ok()) return s;
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
