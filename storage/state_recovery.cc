#include "storage/state_recovery.h"

#include "absl/strings/str_cat.h"
#include "storage/snapshot.h"

namespace synod::storage {
namespace {

// The bootstrap "snapshot" (LogStore's kBootstrapIndex) carries no state.
constexpr uint64_t kNoStateBelow = 1;

}  // namespace

absl::StatusOr<Recovery> RecoverState(TreeStore* store, bool restore_pending,
                                      const SnapshotFiles& files, uint64_t log_snapshot_index) {
  const uint64_t applied = store->meta().applied_index;
  const bool log_covers_state =
      log_snapshot_index <= kNoStateBelow || applied >= log_snapshot_index;
  if (!restore_pending && log_covers_state) return Recovery::kKept;

  const std::string path = files.PathFor(log_snapshot_index);
  const std::string why = absl::StrCat("the state is at index ", applied,
                                       (restore_pending ? " (restore unfinished)" : ""),
                                       " and the Raft log starts after snapshot ",
                                       log_snapshot_index, ": the state can only come from ", path);
  if (log_snapshot_index <= kNoStateBelow) {
    return absl::DataLossError(absl::StrCat(why, ", which no log snapshot names"));
  }
  // The file's own index first: a wrong file must not replace the state.
  absl::StatusOr<SnapshotInfo> header = ReadSnapshotHeader(path, files.io());
  if (header.ok() && header->meta.applied_index != log_snapshot_index) {
    return absl::DataLossError(
        absl::StrCat(why, ", which holds index ", header->meta.applied_index));
  }
  absl::StatusOr<SnapshotInfo> restored =
      header.ok() ? store->RestoreSnapshot(path, files.io()) : header.status();
  if (!restored.ok()) {
    absl::StatusCode code = restored.status().code();
    // Missing or damaged: the file the log relies on is lost. Other codes
    // (another format version, an I/O failure) say what they are.
    if (code == absl::StatusCode::kNotFound) code = absl::StatusCode::kDataLoss;
    return absl::Status(code,
                        absl::StrCat(why, ", which cannot be used: ", restored.status().message()));
  }
  return Recovery::kRestored;
}

}  // namespace synod::storage
