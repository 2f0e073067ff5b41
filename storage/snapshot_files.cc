#include "storage/snapshot_files.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace synod::storage {
namespace {

constexpr char kPrefix[] = "snap-";
constexpr char kSuffix[] = ".snap";
constexpr size_t kCopyBytes = 1u << 20;

}  // namespace

void CheckSynced(const absl::Status& status) {
  if (status.ok()) return;
  std::fprintf(stderr, "FATAL: SnapshotFiles: a sync failed, stopping: %s\n",
               status.ToString().c_str());
  std::fflush(stderr);
  std::abort();
}

absl::Status SnapshotFiles::Init() const {
  absl::StatusOr<bool> created = io_->CreateDir(dir_);
  if (!created.ok()) return created.status();
  if (*created) CheckSynced(io_->SyncDir(ParentDir(dir_)));
  absl::StatusOr<std::vector<std::string>> names = io_->List(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, ".tmp")) continue;
    SYNOD_RETURN_IF_ERROR(io_->Unlink(absl::StrCat(dir_, "/", name)));
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
    absl::StatusOr<std::unique_ptr<File>> file = io_->Open(temp_path, FileIO::OpenMode::kExisting);
    if (!file.ok()) return file.status();
    // The bytes before the name: a crash after the rename must not leave a
    // name on a file whose data never reached the disk.
    CheckSynced((*file)->DataSync());
  }
  SYNOD_RETURN_IF_ERROR(io_->Rename(temp_path, PathFor(index)));
  CheckSynced(io_->SyncDir(dir_));
  return absl::OkStatus();
}

absl::Status SnapshotFiles::CopyIn(const std::string& source, uint64_t index) const {
  absl::StatusOr<std::unique_ptr<File>> in = FileIO::Posix()->Open(source, FileIO::OpenMode::kRead);
  if (!in.ok()) return in.status();
  absl::StatusOr<uint64_t> size = (*in)->Size();
  if (!size.ok()) return size.status();
  const std::string temp = TempPathFor(index, "copy");
  absl::Status copied;
  {
    absl::StatusOr<std::unique_ptr<File>> out = io_->Open(temp, FileIO::OpenMode::kCreateNew);
    if (!out.ok()) return out.status();
    std::string buf;
    for (uint64_t at = 0; at < *size && copied.ok(); at += buf.size()) {
      buf.resize(std::min<uint64_t>(kCopyBytes, *size - at));
      copied = (*in)->PRead(at, buf.size(), buf.data());
      if (copied.ok()) copied = (*out)->PWrite(at, buf);
    }
  }
  if (copied.ok()) copied = Publish(temp, index);
  // Left only by a failure: removed now, or with the other *.tmp at Init.
  if (!copied.ok()) io_->Unlink(temp).IgnoreError();
  return copied;
}

bool SnapshotFiles::Exists(uint64_t index) const {
  return io_->Open(PathFor(index), FileIO::OpenMode::kRead).ok();
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

}  // namespace synod::storage
