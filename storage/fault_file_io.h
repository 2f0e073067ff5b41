// FaultFileIO: an in-memory file system for tests of what survives a crash,
// with the faults a disk and a power cut cause.
//
// Model. Each file keeps what the program sees (live) and what is on the
// disk (durable); each directory keeps its live and durable names. DataSync
// makes a file's live bytes and size durable; SyncDir makes a directory's
// names durable. Directories themselves are durable once created.
//
// Faults:
// - Crash at operation N (numbered from 0 over every mutating call: open for
//   create, pwrite, datasync, rename, unlink, syncdir): the machine loses
//   power just before N completes. The state of that instant is kept for
//   the reboot, with a pwrite at N holding only its first `torn_bytes`
//   bytes (a torn write). The program goes on undisturbed (what it does
//   from N on happens after the power is gone and never reaches the
//   disk); it tells what it acknowledged before the crash by crashed().
// - PowerCut(keep_data, keep_names): the reboot, from the crash instant if
//   there was one, else from now. What was written but not synced survives
//   or not (keep_data: the live bytes become the disk's, else the durable
//   ones come back), likewise the names (keep_names). Open files must be
//   closed first. Then the file system works normally again, with a fresh
//   operation count.
// - FailAtOp(N, errno): operation N fails with errno (ENOSPC, EIO, ...) and
//   changes nothing (any number of them).
//
// Every operation is recorded (trace()) so a test can find the number of
// the step it wants to break in a run without faults.
//
// Thread-safe (one mutex); files stay valid after unlink and rename.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/file_io.h"

namespace synod::storage {

class FaultFileIO final : public FileIO {
 public:
  static constexpr uint64_t kNever = UINT64_MAX;

  FaultFileIO() = default;
  FaultFileIO(const FaultFileIO&) = delete;
  FaultFileIO& operator=(const FaultFileIO&) = delete;

  // FileIO.
  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Unlink(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::StatusOr<bool> CreateDir(const std::string& dir) override;
  absl::StatusOr<std::vector<std::string>> List(const std::string& dir) override;

  // Faults (see the top of this file).
  void CrashAtOp(uint64_t op, size_t torn_bytes = 0);
  void FailAtOp(uint64_t op, int err);
  bool crashed() const;
  void PowerCut(bool keep_data, bool keep_names);

  // Operations so far (since construction or the last PowerCut), one line
  // each: "<kind> <path> [<offset> <bytes>]".
  std::vector<std::string> trace() const;
  uint64_t ops() const;
  // The size of the write a trace line records (0 if not a pwrite).
  static size_t WriteSize(const std::string& trace_line);

  // The live bytes of a file, and a way to change them behind the program's
  // back (as damage on the disk would: live and durable alike).
  std::string Contents(const std::string& path) const;
  void Damage(const std::string& path, uint64_t offset, const std::string& bytes);

 private:
  friend class FaultFile;
  struct Inode {
    std::string live;
    std::string durable;
  };
  struct Dir {
    std::map<std::string, std::shared_ptr<Inode>> live;
    std::map<std::string, std::shared_ptr<Inode>> durable;
  };
  enum class Step { kRun, kCrash, kFail };

  // Numbers an operation and says what to do with it; *err for kFail.
  Step Begin(const std::string& what, int* err) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Dir* DirOf(const std::string& path, std::string* name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<Inode> Find(const std::string& path) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies the whole state into image_ (the crash instant).
  void TakeImage() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Dir> dirs_ ABSL_GUARDED_BY(mu_);
  uint64_t ops_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> trace_ ABSL_GUARDED_BY(mu_);
  uint64_t crash_at_ ABSL_GUARDED_BY(mu_) = kNever;
  size_t torn_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool crashed_ ABSL_GUARDED_BY(mu_) = false;
  // The state at the crash instant; image_inodes_ maps a live inode to its
  // copy there (so the torn write lands in the copy).
  std::map<std::string, Dir> image_ ABSL_GUARDED_BY(mu_);
  std::map<const Inode*, std::shared_ptr<Inode>> image_inodes_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, int> fail_at_ ABSL_GUARDED_BY(mu_);  // op -> errno
};

}  // namespace synod::storage
