// SnapshotFiles: the directory of state snapshot files of one replica
// (<data_dir>/snapshots/snap-<index>.snap), written by the snapshot thread,
// received from a leader (SnapshotInbox) or copied in by a restore, read by
// snapshot senders and by start-up.
//
// A file appears under its final name only once complete and synced
// (written as *.tmp, synced, renamed, then the directory synced), so a name
// always means a whole snapshot. Old files are removed by Prune; a sender
// that still has one open keeps reading it (POSIX unlink semantics).
//
// A failed sync (of a file or of the directory) aborts the process: the
// kernel may have dropped the data and forgotten the error, so nothing
// written since can be trusted (DESIGN.md §3, "a failed fsync stops the
// replica").
//
// All file work goes through a storage::FileIO, so tests can crash the disk
// at any step (storage/fault_file_io.h).
//
// Thread-safe (stateless apart from the directory path).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/file_io.h"

namespace synod::storage {

class SnapshotFiles {
 public:
  // `io`: the file system; null means FileIO::Posix(). Must outlive this.
  explicit SnapshotFiles(std::string dir, FileIO* io = nullptr)
      : dir_(std::move(dir)), io_(io != nullptr ? io : FileIO::Posix()) {}

  // Creates the directory and removes leftovers of interrupted writes.
  // Errors: Internal, ResourceExhausted (I/O).
  absl::Status Init() const;

  const std::string& dir() const { return dir_; }
  FileIO* io() const { return io_; }
  std::string PathFor(uint64_t index) const;
  // A temporary name for a file being written for `index` (unique per tag).
  std::string TempPathFor(uint64_t index, const std::string& tag) const;
  // Syncs `temp_path`, renames it to PathFor(index), syncs the directory.
  // Once it returns OK the file survives a crash under its final name.
  // Errors: NotFound (no such temp file), Internal (I/O); a failed sync
  // aborts.
  absl::Status Publish(const std::string& temp_path, uint64_t index) const;
  // Copies `source` (any file system path, read with FileIO::Posix()) in
  // as the snapshot file for `index` and publishes it. Errors: NotFound,
  // AlreadyExists, ResourceExhausted, Internal; a failed sync aborts.
  absl::Status CopyIn(const std::string& source, uint64_t index) const;
  bool Exists(uint64_t index) const;
  // Indexes of the complete snapshot files, ascending.
  std::vector<uint64_t> List() const;
  // Removes every complete snapshot file with index < keep_from.
  void Prune(uint64_t keep_from) const;

 private:
  const std::string dir_;
  FileIO* const io_;
};

// Aborts the process if `status` (of a sync) is not OK; see the top of this
// file.
void CheckSynced(const absl::Status& status);

}  // namespace synod::storage
