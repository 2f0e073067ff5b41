// SnapshotFiles: the directory of state snapshot files of one replica
// (<data_dir>/snapshots/snap-<index>.snap), written by the snapshot thread
// or received from a leader, read by snapshot senders and by restore.
//
// A file appears under its final name only once complete and fsynced
// (written as *.tmp, then renamed, then the directory fsynced), so a name
// always means a whole snapshot. Old files are removed by Prune; a sender
// that still has one open keeps reading it (POSIX unlink semantics).
//
// Thread-safe (stateless apart from the directory path).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace synod::server {

class SnapshotFiles {
 public:
  explicit SnapshotFiles(std::string dir) : dir_(std::move(dir)) {}

  // Creates the directory and removes leftovers of interrupted writes.
  absl::Status Init() const;

  const std::string& dir() const { return dir_; }
  std::string PathFor(uint64_t index) const;
  // A temporary name for a file being written for `index` (unique per tag).
  std::string TempPathFor(uint64_t index, const std::string& tag) const;
  // fsyncs `temp_path`, renames it to PathFor(index), fsyncs the directory.
  absl::Status Publish(const std::string& temp_path, uint64_t index) const;
  bool Exists(uint64_t index) const;
  // Indexes of the complete snapshot files, ascending.
  std::vector<uint64_t> List() const;
  // Removes every complete snapshot file with index < keep_from.
  void Prune(uint64_t keep_from) const;

 private:
  const std::string dir_;
};

// fsyncs a file or directory by path.
absl::Status FsyncPath(const std::string& path);

}  // namespace synod::server
