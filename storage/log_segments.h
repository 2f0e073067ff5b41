// LogSegments: the files of the Raft log: a directory of segment files, each
// created at full size and filled with zeros before it is used, holding a
// sequence of checksummed records.
//
// Why files of our own rather than RocksDB: the log's write path is one
// fdatasync per Ready (group commit, dissertation §10.2.1). An fdatasync
// after appending to a file must also commit the file's new size and newly
// allocated blocks to the filesystem's journal; after overwriting blocks that
// already exist it writes only the data. Every write here overwrites zeros
// (the spare thread prepares the next segment ahead of time), so the sync on
// the write path is the short one, and no memtable, flush or compaction
// copies the entries again.
//
// Format (kLogFormatVersion, storage/format.h): file `<seq, 16 hex
// digits>.seg`, a 16-byte header ("SYNODLOG", u32 seq, u32 format version),
// then batches, one per Write (little endian):
//   batch   u32 records size L | u32 CRC-32C of (segment seq, batch offset, L)
//           | records (L bytes) | 4-byte end mark (kBatchEnd)
//   record  u32 body size | u32 CRC-32C | u8 type | body
// A record's CRC covers the segment seq, the record's offset, the type and
// the body, so a record that ends up anywhere else never validates; it is
// what a random read (Read) checks. Eight zero bytes where a batch header
// would be end the segment's batches; everything after them is zero.
//
// Recovery (Open): every record of every valid batch is handed to the
// visitor in order; a batch is checked whole before any record of it is.
// A batch that does not validate is accepted as a torn write, and cut off,
// only if all of these hold: it is in the last segment; its header is valid
// and its end mark missing (some of its bytes, at least the last ones, never
// reached the disk), or its header is invalid and every byte after the
// header is zero; and every byte after it to the end of the file is zero.
// Such a write was never acknowledged: Write returns only after its sync,
// and no batch is written before the previous one is synced. The cut-off
// bytes are zeroed so no remains of it can follow the next write. Anything
// else is DataLoss naming the file and the offset, and no file is changed:
// the damaged log may hold entries, a term or a vote this replica
// acknowledged, and starting without them could lose committed writes or
// vote twice in a term (docs/operations.md says what to do). An all-zero
// segment holds nothing, wherever it is: a segment made by a rotation and
// skipped by the next one, because the batch that came after a restart did
// not fit in it.
//
// Failure policy: a failed write, sync or rename on the write path aborts the
// process with a message: after a failed fsync the kernel may have dropped
// the data, and continuing could acknowledge what was never persisted.
// Full disks show up when a segment is created (ahead of time, by the spare
// thread; at rotation the writer tries itself and aborts if it cannot).
//
// Thread: Open, Write, Rotate and DeleteBefore are called by one writer
// thread; Read from any thread; a spare thread of its own prepares the next
// segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/message_lite.h"
#include "storage/file_io.h"

namespace synod::storage {

enum class RecordType : uint8_t {
  kEntry = 1,          // raft::Entry: drops entries at and after its index, then appends it
  kHardState = 2,      // raft::HardState: replaces the hard state
  kSnapshotReset = 3,  // raft::Snapshot: an installed snapshot; the log restarts after it
  kSnapshotBase = 4,   // raft::Snapshot: entries up to it are compacted (if newer)
};

// Where a record lives: segment seq, offset of its header, body size.
struct RecordLocation {
  uint32_t segment = 0;
  uint32_t offset = 0;
  uint32_t size = 0;
};

// Records to be written together: one batch, one pwrite, one sync. The
// buffer keeps room in front for the batch header and, for the first batch
// of a segment, the segment header, so either goes out in the same write.
class RecordBatch {
 public:
  RecordBatch();
  // Serializes `body` as the next record; returns its offset in the batch.
  size_t Add(RecordType type, const google::protobuf::MessageLite& body);
  // Adds the records of `tail` after this batch's; `tail`'s record at
  // offset s is at s + the result in this batch.
  size_t Append(const RecordBatch& tail);
  // Bytes the batch takes in a segment (header and end mark included).
  size_t bytes() const;
  bool empty() const { return starts_.empty(); }

 private:
  friend class LogSegments;
  std::string bytes_;  // segment header room | batch header | records
  std::vector<size_t> starts_;  // record offsets from the batch header
};

class LogSegments {
 public:
  static constexpr size_t kHeaderBytes = 16;
  static constexpr size_t kBatchHeaderBytes = 8;
  static constexpr size_t kBatchEndBytes = 4;
  static constexpr size_t kRecordHeaderBytes = 9;

  struct Options {
    std::string dir;
    // Size of a segment file (a larger batch gets a segment of its own size).
    uint64_t segment_bytes = 16u << 20;
    // The file system; null means FileIO::Posix(). Must outlive the log.
    FileIO* io = nullptr;
    // Prepare the next segment on a thread of its own (the default) or, when
    // false, on the writer thread right after each rotation, so that every
    // file operation happens in one deterministic order (fault tests).
    bool background_spare = true;
  };
  // Called for every valid record in log order. `at.segment` tells which
  // segment holds it. A non-OK status stops Open with that status.
  using Visitor =
      std::function<absl::Status(RecordType type, std::string_view body, const RecordLocation& at)>;

  // Creates the directory if missing. Errors: DataLoss (damage that is not
  // a torn final write; the files are left as they are), FailedPrecondition
  // (a segment of another format version), Internal or ResourceExhausted
  // (I/O), or what the visitor returned.
  static absl::StatusOr<std::unique_ptr<LogSegments>> Open(const Options& options,
                                                           const Visitor& visit);
  ~LogSegments();
  LogSegments(const LogSegments&) = delete;
  LogSegments& operator=(const LogSegments&) = delete;

  // True if a batch of `bytes` fits in the current segment (false when
  // there is none yet).
  bool Fits(size_t bytes) const;
  // Starts a new segment with room for at least `bytes` of records; the
  // previous one is synced first. Aborts on failure.
  void Rotate(size_t bytes);
  // Writes `batch` at the end of the current segment (Fits must hold), in
  // one write, and syncs it if `sync`. Returns the location of the batch's
  // first byte: record i is at offset + its Add result. Aborts on failure.
  // Recovery counts on at most one batch being unsynced at any time: after
  // a crash with two, one torn and a later one whole, it refuses (DataLoss)
  // rather than guess.
  RecordLocation Write(RecordBatch* batch, bool sync);
  // Deletes every segment older than `segment`; the current one stays.
  void DeleteBefore(uint32_t segment);

  // Reads and verifies the record at `at`; returns its body.
  // Errors: NotFound (its segment was deleted), DataLoss (does not verify).
  absl::StatusOr<std::string> Read(const RecordLocation& at, RecordType expect) const;

  uint32_t current_segment() const { return current_ ? current_->seq : 0; }
  size_t segment_count() const;

 private:
  struct Segment {
    uint32_t seq = 0;
    std::unique_ptr<File> file;
    uint64_t capacity = 0;
  };

  explicit LogSegments(const Options& options)
      : options_(options), io_(options.io != nullptr ? options.io : FileIO::Posix()) {}
  absl::Status Load(const Visitor& visit);
  absl::Status LoadSegment(const std::shared_ptr<Segment>& segment, bool last,
                           const Visitor& visit);
  // Applies the torn-write rule (top of this file) to the batch at `at`
  // of the last segment, which does not validate; `header_ok` says whether
  // its header does. OK: cut the log there.
  absl::Status CheckTorn(const std::string& path, const std::string& bytes, uint64_t at,
                         bool header_ok, const std::string& why) const;
  std::string SegmentPath(uint32_t seq) const;
  absl::Status CreateZeroed(const std::string& path, uint64_t bytes) const;
  // Creates "spare.zero" (a zeroed segment file for the next rotation).
  absl::Status PrepareSpare();
  void SpareLoop();
  bool SpareWanted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || (want_spare_ && !spare_ready_);
  }

  const Options options_;
  FileIO* const io_;

  // Writer thread only.
  std::shared_ptr<Segment> current_;
  uint64_t write_offset_ = 0;  // 0: header not written yet
  bool dirty_ = false;         // written since the last sync

  mutable absl::Mutex mu_;
  std::map<uint32_t, std::shared_ptr<Segment>> segments_ ABSL_GUARDED_BY(mu_);
  bool want_spare_ ABSL_GUARDED_BY(mu_) = false;   // the spare thread should make one
  bool spare_ready_ ABSL_GUARDED_BY(mu_) = false;  // "spare.zero" is complete
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread spare_thread_;
};

}  // namespace synod::storage
