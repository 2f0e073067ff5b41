// DataDir: a replica's data directory, its identity and its lock.
//
// Layout: <dir>/IDENTITY (text: format version, cluster id, member id),
// <dir>/LOCK (flock'ed while a process uses the dir; holds its PID),
// <dir>/db (RocksDB), <dir>/snapshots (state snapshot files).
//
// Open refuses, with a message saying what to do:
//   - a dir locked by another process (a second synod on the same data);
//   - an IDENTITY with another cluster id or member id than the flags give
//     (a data dir started with a different --initial_cluster or --id);
//   - an unknown format version;
//   - a db/ without IDENTITY (not created by this version of synod).
// A new dir gets its IDENTITY written atomically (temp file, sync, rename,
// sync of the dir, through FileIO::Posix()) before anything else is created
// in it; a failed sync aborts (storage/snapshot_files.h).
//
// Thread: immutable after Open; the lock is held until destruction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace synod::storage {

inline constexpr uint32_t kDataDirFormatVersion = 1;

struct Identity {
  uint32_t format_version = kDataDirFormatVersion;
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
};

class DataDir {
 public:
  // Errors: FailedPrecondition (locked, identity mismatch, unknown format),
  // Internal (I/O).
  static absl::StatusOr<std::unique_ptr<DataDir>> Open(const std::string& path,
                                                       const Identity& expected);
  ~DataDir();
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  const std::string& path() const { return path_; }
  std::string db_path() const { return path_ + "/db"; }
  std::string raft_log_dir() const { return path_ + "/raftlog"; }
  std::string snapshot_dir() const { return path_ + "/snapshots"; }
  const Identity& identity() const { return identity_; }
  // True if this Open created the identity (a brand-new member).
  bool created() const { return created_; }

 private:
  DataDir(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}

  const std::string path_;
  const int lock_fd_;
  Identity identity_;
  bool created_ = false;
};

}  // namespace synod::storage
