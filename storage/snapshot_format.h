// Snapshot files (format kSnapshotFormatVersion = 7, the only one read): a
// consistent, portable copy of the whole replicated state of one TreeStore
// (either backend) at one applied index. The server streams the file to a
// lagging follower in chunks and uses it for backups; the receiver restores
// it with TreeStore::RestoreSnapshot (storage/snapshot.h).
//
// This part knows the format only: it links zstd, protobuf and the record
// encodings, never RocksDB, so tools (synodctl) can check files with it.
//
// Layout (integers little-endian unless noted):
//   header   "SYNODSNP" | u32 format version | u64 applied index
//            | u64 digest | u64 compaction revision
//            | u32 settings length | EncodeSettings (length 0: the state
//            records no cluster settings)
//            | u8 has auth | u32 auth length | serialized v1::AuthState
//            (has auth 0, length 0: the state records none)
//            | u8 has quotas | u32 quotas length | serialized
//            v1::QuotaState (likewise)
//   records  u8 type | u32 key length | key | u32 value length | value,
//            where type is
//              1 node     key = path, value = EncodeNode
//              2 history  key = path + be64(seq), value = EncodeHistoryEntry
//              3 session  key = be64(id), value = EncodeSession
//              4 event    key = be64(revision) + be32(i), value = WatchEvent
//              5 grave    key = be64(revision) + path, value = be64(seq)
//   trailer  u8 0xFF | u64 record count | u64 checksum, the StreamHasher
//            value of every plain byte before the checksum.
// Everything after the header is stored as blocks: u32 compressed length |
// u32 plain length (at most 1 MiB) | one zstd frame. A node's value is also
// in its history entry, and stats and paths repeat, so the file shrinks
// several-fold while the header stays readable without decompressing.
// Secondary indexes (children, ephemerals, TTL/containers) are not stored:
// the restore rebuilds them from the nodes. A restore also recomputes the
// digest from the nodes and refuses the file if it differs from the header.
//
// All file access goes through a storage::FileIO (null: FileIO::Posix()),
// so tests can tear writes and cut the power (storage/fault_file_io.h).
//
// Thread: a writer belongs to one thread; the free functions are
// thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/file_io.h"
#include "storage/node.h"
#include "storage/tree_store.h"
#include "synod/v1/watch.pb.h"

namespace synod::storage {

enum class SnapshotRecordType : uint8_t {
  kNode = 1,
  kHistory = 2,
  kSession = 3,
  kEvent = 4,
  kGrave = 5,
};

// One decoded record, as the reader hands it out.
struct SnapshotRecord {
  SnapshotRecordType type = SnapshotRecordType::kNode;
  std::string path;     // node, history, grave
  uint64_t number = 0;  // history seq, session id, event or grave revision
  uint64_t seq = 0;     // grave
  Node node;
  HistoryEntry history;
  Session session;
  v1::WatchEvent event;
};

// Writes one new snapshot file: header, records, trailer. The file is not
// synced: whoever gives it a name that must survive a crash syncs it first
// (SnapshotFiles::Publish). An unfinished writer removes its file.
class SnapshotFileWriter {
 public:
  // Creates `path` and writes the header of a snapshot of `meta`. Errors:
  // AlreadyExists, NotFound (no such directory), ResourceExhausted, Internal.
  static absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> Create(FileIO* io,
                                                                    const std::string& path,
                                                                    const StoreMeta& meta);
  ~SnapshotFileWriter();
  SnapshotFileWriter(const SnapshotFileWriter&) = delete;
  SnapshotFileWriter& operator=(const SnapshotFileWriter&) = delete;

  // Records, in any order, except that the events of one revision come
  // one after another (a restore keeps them in one chunk).
  absl::Status AddNode(std::string_view path, const Node& node);
  absl::Status AddHistory(std::string_view path, uint64_t seq, const HistoryEntry& entry);
  absl::Status AddSession(const Session& session);
  absl::Status AddGrave(const Grave& grave);
  // `index`: the event's place among the events of its revision.
  absl::Status AddEvent(const v1::WatchEvent& event, uint32_t index);

  // Writes the trailer and closes the file (not synced, see above).
  absl::StatusOr<SnapshotInfo> Finish();

 private:
  class Impl;
  explicit SnapshotFileWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads a snapshot file from start to end and checks it: header, every
// record, record count, checksum, no trailing bytes, and the digest
// recomputed from the nodes equal to the header's. If `sink` is set it gets
// every record in file order (it may move from it); an error from it ends
// the scan. Errors: NotFound, DataLoss (damaged, truncated or not a
// snapshot), FailedPrecondition (another format version), Internal (I/O),
// or the sink's.
using SnapshotSink = std::function<absl::Status(SnapshotRecord&)>;
absl::StatusOr<SnapshotInfo> ScanSnapshot(const std::string& file_path, const SnapshotSink& sink,
                                          FileIO* io = nullptr);

// Reads and checks only the header of a snapshot file (e.g. to learn its
// applied index before restoring). Errors: NotFound, DataLoss (not a
// snapshot), FailedPrecondition (another format version).
absl::StatusOr<SnapshotInfo> ReadSnapshotHeader(const std::string& file_path, FileIO* io = nullptr);

// What a whole-file check found (backups: synodctl snapshot status, synod
// --restore).
struct SnapshotSummary {
  SnapshotInfo info;  // header, size and checksum
  uint64_t nodes = 0;
  uint64_t sessions = 0;
  uint64_t history_entries = 0;
  uint64_t events = 0;
};

// ScanSnapshot without a sink, counting what it read; touches no state.
absl::StatusOr<SnapshotSummary> VerifySnapshot(const std::string& file_path, FileIO* io = nullptr);

}  // namespace synod::storage
