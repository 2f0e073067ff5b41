#include "storage/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "storage/file_io.h"
#include "storage/snapshot_files.h"

namespace synod::storage {
namespace {

constexpr char kMagic[] = "synod-data-dir";

std::string Errno(absl::string_view what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

std::string EncodeIdentity(const Identity& id) {
  return absl::StrCat(kMagic, "\nformat_version=", id.format_version,
                      "\ncluster_id=", id.cluster_id, "\nmember_id=", id.member_id, "\n");
}

absl::StatusOr<Identity> DecodeIdentity(const std::string& path, const std::string& text) {
  Identity id;
  id.format_version = 0;
  bool magic = false;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    line = absl::StripAsciiWhitespace(line);
    if (line == kMagic) {
      magic = true;
      continue;
    }
    std::vector<absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (kv.size() != 2) continue;
    bool ok = true;
    if (kv[0] == "format_version") ok = absl::SimpleAtoi(kv[1], &id.format_version);
    if (kv[0] == "cluster_id") ok = absl::SimpleAtoi(kv[1], &id.cluster_id);
    if (kv[0] == "member_id") ok = absl::SimpleAtoi(kv[1], &id.member_id);
    if (!ok) return absl::FailedPreconditionError(absl::StrCat(path, ": bad line '", line, "'"));
  }
  if (!magic || id.format_version == 0 || id.cluster_id == 0 || id.member_id == 0) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a synod identity file"));
  }
  return id;
}

absl::Status WriteIdentity(const std::string& dir, const Identity& id) {
  FileIO* io = FileIO::Posix();
  const std::string tmp = dir + "/IDENTITY.tmp";
  {
    absl::StatusOr<std::unique_ptr<File>> out = io->Open(tmp, FileIO::OpenMode::kCreate);
    if (!out.ok()) return out.status();
    SYNOD_RETURN_IF_ERROR((*out)->PWrite(0, EncodeIdentity(id)));
    CheckSynced((*out)->DataSync());
  }
  SYNOD_RETURN_IF_ERROR(io->Rename(tmp, dir + "/IDENTITY"));
  CheckSynced(io->SyncDir(dir));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataDir>> DataDir::Open(const std::string& path,
                                                       const Identity& expected) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("create data dir ", path, ": ", ec.message()));

  const std::string lock_path = path + "/LOCK";
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(Errno("open " + lock_path));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {0};
    const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    if (err == EWOULDBLOCK) {
      std::string holder = n > 0 ? std::string(absl::StripAsciiWhitespace(buf)) : "unknown";
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", path, " is in use by another synod process (pid ", holder,
                       "); stop it first or use another --data_dir"));
    }
    return absl::InternalError(absl::StrCat("lock ", lock_path, ": ", std::strerror(err)));
  }
  std::unique_ptr<DataDir> dir(new DataDir(path, fd));
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    return absl::InternalError(Errno("write " + lock_path));
  }

  const std::string id_path = path + "/IDENTITY";
  std::ifstream in(id_path);
  if (!in) {
    if (std::filesystem::exists(dir->db_path()) || std::filesystem::exists(dir->raft_log_dir())) {
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", path,
                       " holds a database but no IDENTITY file; refusing to guess whose "
                       "data it is"));
    }
    if (absl::Status s = WriteIdentity(path, expected); !s.ok()) return s;
    dir->identity_ = expected;
    dir->created_ = true;
    return dir;
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<Identity> found = DecodeIdentity(id_path, text.str());
  if (!found.ok()) return found.status();
  if (found->format_version != kDataDirFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat("data dir ", path, " has format version ",
                                                      found->format_version, "; this synod reads ",
                                                      kDataDirFormatVersion));
  }
  if (found->cluster_id != expected.cluster_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", path, " belongs to cluster ", found->cluster_id,
        " but --initial_cluster describes cluster ", expected.cluster_id,
        "; start it with the --initial_cluster it was created with, or use another --data_dir"));
  }
  if (found->member_id != expected.member_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", path, " belongs to member ", found->member_id,
                     ", not --id=", expected.member_id, "; start it with --id=", found->member_id,
                     " or use another --data_dir"));
  }
  dir->identity_ = *found;
  return dir;
}

DataDir::~DataDir() {
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
}

}  // namespace synod::storage
