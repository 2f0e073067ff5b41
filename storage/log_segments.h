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
// Format: file `<seq, 16 hex digits>.seg`, a 16-byte header ("SYNODLOG", seq
// little endian), then records: u32 body size, u32 CRC-32C, u8 type, body
// (little endian). The CRC covers the segment seq, the record's offset, the
// type and the body, so a record that ends up anywhere else never validates.
// Zero bytes where a record header would be end the segment's records.
//
// Recovery (Open): every record is handed to the visitor in order. In the
// last segment the first record that does not validate ends the log: it is a
// write that did not complete, so it was never acknowledged (Write returns
// only after its sync); the bytes from there to the end of the file are
// zeroed so no remains of it can follow the next write. An invalid record
// in any other segment is DataLoss (a segment is synced before the next one
// starts).
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

// Records to be written together (one Write, one sync).
class RecordBatch {
 public:
  // Serializes `body` as the next record; returns its offset in the batch.
  size_t Add(RecordType type, const google::protobuf::MessageLite& body);
  size_t bytes() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

 private:
  friend class LogSegments;
  std::string bytes_;
  std::vector<size_t> starts_;
};

class LogSegments {
 public:
  static constexpr size_t kHeaderBytes = 16;
  static constexpr size_t kRecordHeaderBytes = 9;

  struct Options {
    std::string dir;
    // Size of a segment file (a larger batch gets a segment of its own size).
    uint64_t segment_bytes = 16u << 20;
  };
  // Called for every valid record in log order. `at.segment` tells which
  // segment holds it. A non-OK status stops Open with that status.
  using Visitor =
      std::function<absl::Status(RecordType type, std::string_view body, const RecordLocation& at)>;

  // Creates the directory if missing. Errors: DataLoss (an invalid record
  // or header before the last segment), Internal (I/O).
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
  // Writes `batch` at the end of the current segment (Fits must hold) and
  // syncs it if `sync`. Returns the location of the batch's first byte:
  // record i is at offset + its Add result. Aborts on failure.
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
    int fd = -1;
    uint64_t capacity = 0;
    ~Segment();
  };

  explicit LogSegments(const Options& options) : options_(options) {}
  absl::Status Load(const Visitor& visit);
  absl::Status LoadSegment(const std::shared_ptr<Segment>& segment, bool last,
                           const Visitor& visit);
  std::string SegmentPath(uint32_t seq) const;
  void SpareLoop();
  bool SpareWanted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || (want_spare_ && !spare_ready_);
  }

  const Options options_;

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
