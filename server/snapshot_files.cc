#include "server/snapshot_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

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
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", dir_, ": ", ec.message()));
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (absl::EndsWith(entry.path().filename().string(), ".tmp")) {
      std::filesystem::remove(entry.path(), ec);
    }
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
  if (absl::Status s = FsyncPath(temp_path); !s.ok()) return s;
  if (std::rename(temp_path.c_str(), PathFor(index).c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", temp_path, ": ", std::strerror(errno)));
  }
  return FsyncPath(dir_);
}

bool SnapshotFiles::Exists(uint64_t index) const {
  return access(PathFor(index).c_str(), R_OK) == 0;
}

std::vector<uint64_t> SnapshotFiles::List() const {
  std::vector<uint64_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
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
    if (index < keep_from) std::remove(PathFor(index).c_str());
  }
}

}  // namespace synod::server
