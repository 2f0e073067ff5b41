// Snapshot files (format kSnapshotFormatVersion = 3; formats 1 and 2 are
// still read): a consistent, portable copy of the whole replicated state of one
// TreeStore (either backend) at one applied index. The server streams the
// file to a lagging follower in chunks and uses it for backups; the receiver
// restores it with TreeStore::RestoreSnapshot.
//
// Layout (integers little-endian unless noted):
//   header   "SYNODSNP" | u32 format version | u64 applied index
//            | u64 digest | u64 compaction revision
//            | u32 settings length | EncodeSettings (format 3; length 0:
//            the state records no cluster settings)
//   records  u8 type | u32 key length | key | u32 value length | value,
//            where type is
//              1 node     key = path, value = EncodeNode
//              2 history  key = path + be64(seq), value = EncodeHistoryEntry
//              3 session  key = be64(id), value = EncodeSession
//              4 event    key = be64(revision) + be32(i), value = WatchEvent
//              5 grave    key = be64(revision) + path, value = be64(seq)
//   trailer  u8 0xFF | u64 record count | u64 checksum, the StreamHasher
//            value of every byte before the checksum.
// Format 1 stores records and trailer as they are. Formats 2 and 3 store the same
// bytes after the header as blocks: u32 compressed length | u32 plain length
// (at most 1 MiB) | one zstd frame. A node's value is also in its history
// entry, and stats and paths repeat, so the file shrinks several-fold while
// the header stays readable without decompressing. The checksum covers the
// plain bytes, so it means the same in every format.
// Secondary indexes (children, ephemerals, TTL/containers) are not stored:
// the restore rebuilds them from the nodes. A restore also recomputes the
// digest from the nodes and refuses the file if it differs from the header.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "storage/tree_store.h"

namespace synod::storage {

// Reads and checks only the header of a snapshot file (e.g. to learn its
// applied index before restoring). Errors: NotFound, DataLoss (not a
// snapshot), FailedPrecondition (unknown version).
absl::StatusOr<SnapshotInfo> ReadSnapshotHeader(const std::string& file_path);

// What a whole-file check found (backups: synodctl snapshot status, synod
// --restore).
struct SnapshotSummary {
  SnapshotInfo info;  // header, size and checksum
  uint64_t nodes = 0;
  uint64_t sessions = 0;
  uint64_t history_entries = 0;
  uint64_t events = 0;
};

// Reads the whole file and checks it as a restore would, without touching
// any state: header, every record, record count, checksum, no trailing
// bytes, and the digest recomputed from the nodes equal to the header's.
// Errors: NotFound, DataLoss (damaged, truncated or not a snapshot),
// FailedPrecondition (unknown version), Internal (I/O).
absl::StatusOr<SnapshotSummary> VerifySnapshot(const std::string& file_path);

}  // namespace synod::storage
