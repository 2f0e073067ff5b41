#include "server/snapshot_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace synod::server {
namespace {

constexpr char kPrefix[] = "snap-";
constexpr char kSuffix[] = ".snap";

}  // namespace

absl::Status FsyncPath(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  const int r = fsync(fd);
  const int err = errno;
  close(fd);
  if (r != 0) return absl::InternalError(absl::StrCat("fsync ", path, ": ", std::strerror(err)));
  return absl::OkStatus();
}

absl::Status SnapshotFiles::Init() const {
  absl::StatusOr<bool> created = io_->CreateDir(dir_);
  if (!created.ok()) return created.status();
  if (*created) {
    if (absl::Status s = io_->SyncDir(storage::ParentDir(dir_)); !s.ok()) return s;
  }
  absl::StatusOr<std::vector<std::string>> names = io_->List(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, ".tmp")) continue;
    if (absl::Status s = io_->Unlink(absl::StrCat(dir_, "/", name)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string SnapshotFiles::PathFor(uint64_t index) const {
  char name[64];
  std::snprintf(name, sizeof(name), "%s%020" PRIu64 "%s", kPrefix, index, kSuffix);
  return absl::StrCat(dir_, "/", name);
}

std::string SnapshotFiles::TempPathFor(uint64_t index, const std::string& tag) const {
  return absl::StrCat(PathFor(index), ".", tag, ".tmp");
}

absl::Status SnapshotFiles::Publish(const std::string& temp_path, uint64_t index) const {
  {
    absl::StatusOr<std::unique_ptr<storage::File>> file =
        io_->Open(temp_path, storage::FileIO::OpenMode::kExisting);
    if (!file.ok()) return file.status();
    if (absl::Status s = (*file)->DataSync(); !s.ok()) return s;
  }
  if (absl::Status s = io_->Rename(temp_path, PathFor(index)); !s.ok()) return s;
  return io_->SyncDir(dir_);
}

bool SnapshotFiles::Exists(uint64_t index) const {
  return io_->Open(PathFor(index), storage::FileIO::OpenMode::kExisting).ok();
}

std::vector<uint64_t> SnapshotFiles::List() const {
  std::vector<uint64_t> out;
  absl::StatusOr<std::vector<std::string>> names = io_->List(dir_);
  if (!names.ok()) return out;  // no directory: no snapshot files
  for (const std::string& name : *names) {
    if (!absl::StartsWith(name, kPrefix) || !absl::EndsWith(name, kSuffix)) continue;
    uint64_t index = 0;
    const std::string digits = name.substr(
        sizeof(kPrefix) - 1, name.size() - (sizeof(kPrefix) - 1) - (sizeof(kSuffix) - 1));
    if (absl::SimpleAtoi(digits, &index)) out.push_back(index);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void SnapshotFiles::Prune(uint64_t keep_from) const {
  for (uint64_t index : List()) {
    // A file that stays is only disk space; the next Prune tries again.
    if (index < keep_from) io_->Unlink(PathFor(index)).IgnoreError();
  }
}

}  // namespace synod::server
