// LegacyLog: the Raft log as earlier versions of Synod kept it, in RocksDB
// (column families raft_log and raft_meta). LogStore::Open moves such a log
// into its segment files once and then drops it from RocksDB.
//
// Layout read: raft_log key = 8-byte big-endian index, value = 4-byte CRC32C
// (big endian) of the serialized raft::Entry that follows; raft_meta keys
// "hard_state", "snapshot" (raft::Snapshot), "log_last" (big-endian last
// index and term).
//
// Thread: any; the caller serializes access to the store.
#pragma once

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"
#include "storage/rocks_env.h"

namespace synod::storage {

struct LegacyLog {
  std::optional<raft::HardState> hard_state;
  std::optional<raft::Snapshot> snapshot;
  std::vector<raft::Entry> entries;  // contiguous, after the snapshot
};

// Reads and verifies the legacy log (checksums, contiguity, terms,
// "log_last"); nullopt if there is none. Errors: DataLoss, RocksDB's.
absl::StatusOr<std::optional<LegacyLog>> ReadLegacyLog(RocksEnv* env);
// Deletes the legacy log and fences it (synced).
absl::Status DropLegacyLog(RocksEnv* env);
// Makes binaries that keep the log in RocksDB refuse this data dir: they
// would take the empty legacy log for a new member's and start a log that
// contradicts the state. The fence is a "log_last" record no log matches
// (index 2^64-1), so their log check fails loudly at startup ("truncated or
// corrupt tail"). Written once (synced); ReadLegacyLog ignores it.
absl::Status FenceLegacyLog(RocksEnv* env);
// Writes `log` in the legacy layout (tests of the move).
absl::Status WriteLegacyLog(RocksEnv* env, const LegacyLog& log);

}  // namespace synod::storage
