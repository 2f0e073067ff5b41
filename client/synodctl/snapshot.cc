// synodctl's backup commands: snapshot save (stream a consistent snapshot
// from a replica into a file that is checked before it gets its name) and
// snapshot status (check a file offline).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/synodctl/commands.h"
#include "storage/snapshot_format.h"

namespace synod::ctl {
namespace {

constexpr absl::Duration kSaveTimeout = absl::Minutes(10);

// fsyncs a file or directory; a backup that is not on disk is no backup.
absl::Status Fsync(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return SynodError(ErrorCode::kInternal, absl::StrCat("open ", path, ": ", strerror(errno)));
  }
  const int r = fsync(fd);
  const int err = errno;
  close(fd);
  if (r != 0) {
    return SynodError(ErrorCode::kInternal, absl::StrCat("fsync ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

std::string DirOf(const std::string& file) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::absolute(file, ec).parent_path();
  return parent.empty() ? "." : parent.string();
}

// Checks a file as synod --restore will (storage/snapshot_format.h), with errors
// worded for the command line.
absl::StatusOr<storage::SnapshotSummary> Verify(const std::string& file) {
  absl::StatusOr<storage::SnapshotSummary> summary = storage::VerifySnapshot(file);
  if (summary.ok() || absl::StrContains(summary.status().message(), file)) return summary;
  return absl::Status(summary.status().code(),
                      absl::StrCat(file, ": ", summary.status().message()));
}

void PrintSummary(Ctx& ctx, const std::string& verb, const std::string& file,
                  const storage::SnapshotSummary& s) {
  const std::string digest = absl::StrFormat("%016x", s.info.meta.digest);
  if (ctx.json()) {
    Json j;
    j["file"] = file;
    j["revision"] = s.info.meta.applied_index;
    j["digest"] = digest;
    j["nodes"] = s.nodes;
    j["sessions"] = s.sessions;
    j["history_entries"] = s.history_entries;
    j["events"] = s.events;
    j["compact_revision"] = s.info.meta.compact_revision;
    j["bytes"] = s.info.bytes;
    j["format_version"] = static_cast<uint64_t>(s.info.format_version);
    ctx.io().Out(JsonLine(j));
    return;
  }
  ctx.io().Out(absl::StrFormat(
      "%s %s: revision %d, digest %s, %d nodes, %d sessions, %d bytes (format %d)\n", verb, file,
      s.info.meta.applied_index, digest, s.nodes, s.sessions, s.info.bytes, s.info.format_version));
}

}  // namespace

absl::Status CmdSnapshotSave(Ctx& ctx) {
  const std::string& file = ctx.args().file;
  const std::string temp = file + ".tmp";
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  // The stream lands in FILE.tmp (the client checks the stream's CRC32C on
  // the way); only a synced file whose own checksums and digest check out
  // is renamed to FILE, so FILE is never a partial backup.
  // A backup of a large tree takes longer than one request: without an
  // explicit --timeout the whole transfer gets kSaveTimeout.
  const CallOptions call =
      ctx.args().timeout.has_value() ? ctx.call() : CallOptions::Timeout(kSaveTimeout);
  absl::StatusOr<SnapshotInfo> streamed = (*client)->SaveSnapshot(temp, call);
  if (!streamed.ok()) return streamed.status();
  auto fail = [&temp](absl::Status s) {
    std::remove(temp.c_str());
    return s;
  };
  if (absl::Status s = Fsync(temp); !s.ok()) return fail(s);
  absl::StatusOr<storage::SnapshotSummary> summary = Verify(temp);
  if (!summary.ok()) return fail(summary.status());
  if (summary->info.meta.applied_index != streamed->applied_index ||
      summary->info.meta.digest != streamed->digest) {
    return fail(SynodError(
        ErrorCode::kDataLoss,
        absl::StrFormat("the file holds revision %d digest %016x, the replica announced revision "
                        "%d digest %016x",
                        summary->info.meta.applied_index, summary->info.meta.digest,
                        streamed->applied_index, streamed->digest)));
  }
  if (std::rename(temp.c_str(), file.c_str()) != 0) {
    return fail(SynodError(ErrorCode::kInternal,
                           absl::StrCat("rename ", temp, " to ", file, ": ", strerror(errno))));
  }
  if (absl::Status s = Fsync(DirOf(file)); !s.ok()) return s;
  PrintSummary(ctx, "saved", file, *summary);
  return absl::OkStatus();
}

absl::Status CmdSnapshotStatus(Ctx& ctx) {
  absl::StatusOr<storage::SnapshotSummary> summary = Verify(ctx.args().file);
  if (!summary.ok()) return summary.status();
  PrintSummary(ctx, "ok", ctx.args().file, *summary);
  return absl::OkStatus();
}

}  // namespace synod::ctl
