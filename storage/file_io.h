// FileIO: the few file operations the Raft log's segment files and the
// snapshot files need, behind
// an interface, so that tests can replace the disk with one that tears
// writes, fails syncs, runs out of space and loses whatever was not synced
// when the power goes (storage/fault_file_io.h). FileIO::Posix() is the real
// one: pwrite, pread, fdatasync, rename, unlink and directory fsync.
//
// Errors carry errno's text; the code follows it: ENOENT -> NotFound,
// EEXIST -> AlreadyExists, ENOSPC/EDQUOT -> ResourceExhausted, anything
// else -> Internal.
//
// Thread-safety: FileIO implementations are thread-safe. A File may be read
// (PRead, Size) from any thread while one thread writes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace synod::storage {

class File {
 public:
  virtual ~File() = default;

  // Writes all of `data` at `offset`. A failure may leave any part written.
  virtual absl::Status PWrite(uint64_t offset, std::string_view data) = 0;
  // Reads exactly `n` bytes at `offset` into `out`. OutOfRange if the file
  // ends before.
  virtual absl::Status PRead(uint64_t offset, size_t n, char* out) const = 0;
  // Makes every write so far durable (data and size, not the name).
  virtual absl::Status DataSync() = 0;
  // Pushes [offset, offset + n) towards the disk and waits for it, so that
  // a later DataSync does not queue it all at once. Pacing only: DataSync
  // is what makes data durable and reports errors.
  virtual void WriteBack(uint64_t offset, uint64_t n) = 0;
  virtual absl::StatusOr<uint64_t> Size() const = 0;
};

class FileIO {
 public:
  enum class OpenMode {
    kExisting,  // read and write a file that exists (NotFound otherwise)
    kCreate,    // create the file, or empty it if it exists
    kCreateNew,  // create the file; AlreadyExists if it exists
    kRead,       // read a file that exists (NotFound otherwise); no writes
  };

  // The real file system. Lives as long as the process.
  static FileIO* Posix();

  virtual ~FileIO() = default;

  virtual absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) = 0;
  // Atomically replaces `to` with `from` (durable once the directory is
  // synced).
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes a name (durable once the directory is synced). NotFound if
  // there is none.
  virtual absl::Status Unlink(const std::string& path) = 0;
  // Makes the directory's names durable (creations, renames, removals).
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  // Creates `dir` and its missing parents; true if `dir` did not exist.
  virtual absl::StatusOr<bool> CreateDir(const std::string& dir) = 0;
  // The names in `dir` (files only, no "." or "..").
  virtual absl::StatusOr<std::vector<std::string>> List(const std::string& dir) = 0;
};

// The directory part of `path` ("." if it has none).
std::string ParentDir(const std::string& path);

// `what: strerror(err)` with the code the top of this file gives errno `err`.
absl::Status ErrnoStatus(int err, const std::string& what);

}  // namespace synod::storage
