// Fuzz target: recovery of the Raft log's segment files (LogStore::Open over
// storage/log_segments.h), on an in-memory file system
// (storage/fault_file_io.h) so each input costs no disk I/O.
//
// Input, byte 0 (mode):
//   bit 0 clear: raw segment files: u8 count (1 + n % 3), then the files of
//     segments 1.., each but the last as u16 length + bytes, the last the
//     rest of the input.
//   bit 0 set: records written by the real writer (LogSegments), so that
//     mutations reach replay and verification behind the checksums:
//       u16 segment size (256 + n % 3841 bytes), then operations until the end:
//       op % 8 = 0: end the batch; 1..4: a record of that RecordType whose
//       body is u16 length + bytes parsed as its message (skipped if they
//       do not parse); 5: end the batch and start a new segment;
//       6: after writing, XOR byte (u8) into segment (u8) at offset (u32);
//       7: after writing, zero the last segment from offset (u32) on (a
//       torn write).
// Promises checked beyond "no crash": Open returns the log or DataLoss or
// FailedPrecondition, nothing else; an opened log holds its entries
// contiguously from the snapshot, readable with non-decreasing terms and
// matching TermAt, and a commit index inside it; a second Open finds the
// same log; an entry appended after recovery survives the next Open.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "raft/types.h"
#include "storage/fault_file_io.h"
#include "storage/log_segments.h"
#include "storage/log_store.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/quiet_protobuf.h"

namespace synod::fuzz {
namespace {

constexpr char kDir[] = "/log";
constexpr uint64_t kStoreSegmentBytes = 4096;

std::string SegmentPath(uint32_t seq) { return absl::StrFormat("%s/%016x.seg", kDir, seq); }

// What an opened log holds, to compare two Opens.
struct LogImage {
  raft::LogIndex first = 0;
  raft::LogIndex last = 0;
  std::string hard_state;
  std::string snapshot;
  std::vector<std::string> entries;

  bool operator==(const LogImage&) const = default;
};

absl::StatusOr<std::unique_ptr<storage::LogStore>> OpenLog(storage::FaultFileIO* io) {
  storage::LogStore::Options options;
  options.dir = kDir;
  options.segment_bytes = kStoreSegmentBytes;
  options.cache_bytes = 1024;  // small: reads also go to the files
  options.io = io;
  options.background_spare = false;
  return storage::LogStore::Open(options);
}

// Checks the promises of an opened log (log_store.h, "Invariants") and
// returns what it holds.
LogImage Inspect(const storage::LogStore& log) {
  LogImage image;
  image.first = log.FirstIndex();
  image.last = log.LastIndex();
  const absl::StatusOr<raft::Snapshot> snapshot = log.GetSnapshot();
  Require(snapshot.ok(), "GetSnapshot", snapshot.status().ToString());
  image.snapshot = snapshot->SerializeAsString();
  image.hard_state = log.hard_state().SerializeAsString();
  Require(image.first == snapshot->metadata().index() + 1, "FirstIndex is not after the snapshot");
  Require(image.last + 1 >= image.first, "LastIndex is before the snapshot");
  Require(log.hard_state().commit() <= image.last, "commit index past the end of the log");
  const absl::StatusOr<raft::Term> snap_term = log.TermAt(image.first - 1);
  Require(snap_term.ok() && *snap_term == snapshot->metadata().term(),
          "TermAt(snapshot index) is not the snapshot's term");

  raft::LogIndex next = image.first;
  raft::Term prev_term = 0;
  while (next <= image.last) {
    absl::StatusOr<std::vector<raft::Entry>> got = log.Entries(next, image.last + 1, 1u << 20);
    Require(got.ok() && !got->empty(), "an entry of an opened log does not read",
            absl::StrCat(next, ": ", got.status().ToString()));
    for (const raft::Entry& e : *got) {
      Require(e.index() == next, "entries are not contiguous",
              absl::StrCat("expected ", next, ", got ", e.index()));
      Require(e.term() >= prev_term, "entry terms decrease", absl::StrCat("at ", e.index()));
      const absl::StatusOr<raft::Term> term = log.TermAt(e.index());
      Require(term.ok() && *term == e.term(), "TermAt differs from the entry",
              absl::StrCat("at ", e.index()));
      prev_term = e.term();
      image.entries.push_back(e.SerializeAsString());
      ++next;
    }
  }
  return image;
}

// Mode 0: the segment files as the input gives them.
void WriteRaw(ByteReader* in, storage::FaultFileIO* io) {
  const int count = 1 + in->U8() % 3;
  for (int i = 1; i <= count; ++i) {
    const std::string_view bytes = i < count ? in->Field() : in->Rest();
    absl::StatusOr<std::unique_ptr<storage::File>> file =
        io->Open(SegmentPath(static_cast<uint32_t>(i)), storage::FileIO::OpenMode::kCreate);
    Require(file.ok() && (*file)->PWrite(0, bytes).ok(), "in-memory write");
  }
}

struct Damage {
  bool zero_tail = false;
  uint8_t segment = 0;
  uint32_t offset = 0;
  uint8_t mask = 0;
};

// Mode 1: records through the real writer, then damage.
void WriteRecords(ByteReader* in, storage::FaultFileIO* io) {
  storage::LogSegments::Options options;
  options.dir = kDir;
  options.segment_bytes = 256 + in->U16() % 3841;
  options.io = io;
  options.background_spare = false;
  absl::StatusOr<std::unique_ptr<storage::LogSegments>> log = storage::LogSegments::Open(
      options, [](storage::RecordType, std::string_view, const storage::RecordLocation&) {
        return absl::OkStatus();
      });
  Require(log.ok(), "opening an empty log", log.status().ToString());
  storage::LogSegments* segments = log->get();
  std::vector<Damage> damage;
  auto batch = std::make_unique<storage::RecordBatch>();
  const auto flush = [&] {
    if (batch->empty()) return;
    if (!segments->Fits(batch->bytes())) segments->Rotate(batch->bytes());
    segments->Write(batch.get(), /*sync=*/true);
    batch = std::make_unique<storage::RecordBatch>();
  };
  while (!in->empty()) {
    const uint8_t op = in->U8() % 8;
    switch (op) {
      case 0:
        flush();
        break;
      case 1: {
        raft::Entry entry;
        const std::string_view body = in->Field();
        if (entry.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
          batch->Add(storage::RecordType::kEntry, entry);
        }
        break;
      }
      case 2: {
        raft::HardState hard_state;
        const std::string_view body = in->Field();
        if (hard_state.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
          batch->Add(storage::RecordType::kHardState, hard_state);
        }
        break;
      }
      case 3:
      case 4: {
        raft::Snapshot snapshot;
        const std::string_view body = in->Field();
        if (snapshot.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
          batch->Add(op == 3 ? storage::RecordType::kSnapshotReset
                             : storage::RecordType::kSnapshotBase,
                     snapshot);
        }
        break;
      }
      case 5:
        flush();
        if (segments->current_segment() != 0) segments->Rotate(0);
        break;
      case 6: {
        Damage d;
        d.segment = in->U8();
        d.offset = in->U32();
        d.mask = in->U8();
        damage.push_back(d);
        break;
      }
      case 7: {
        Damage d;
        d.zero_tail = true;
        d.offset = in->U32();
        damage.push_back(d);
        break;
      }
    }
  }
  flush();
  const uint32_t last = segments->current_segment();
  log->reset();
  if (last == 0) return;
  for (const Damage& d : damage) {
    const uint32_t seq = d.zero_tail ? last : 1 + d.segment % last;
    const std::string path = SegmentPath(seq);
    const std::string bytes = io->Contents(path);
    if (bytes.empty()) continue;
    const size_t at = d.offset % bytes.size();
    if (d.zero_tail) {
      io->Damage(path, at, std::string(bytes.size() - at, '\0'));
    } else {
      io->Damage(path, at, std::string(1, static_cast<char>(bytes[at] ^ d.mask)));
    }
  }
}

}  // namespace
}  // namespace synod::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synod;
  using namespace synod::fuzz;
  ByteReader in(data, size);
  storage::FaultFileIO io;
  Require(io.CreateDir(kDir).ok(), "in-memory directory");
  if ((in.U8() & 1) == 0) {
    WriteRaw(&in, &io);
  } else {
    WriteRecords(&in, &io);
  }

  const std::initializer_list<absl::StatusCode> allowed = {absl::StatusCode::kDataLoss,
                                                           absl::StatusCode::kFailedPrecondition};
  absl::StatusOr<std::unique_ptr<storage::LogStore>> log = OpenLog(&io);
  RequireTyped(log.status(), allowed, "LogStore::Open");
  if (!log.ok()) return 0;
  const LogImage image = Inspect(**log);
  log->reset();

  // Recovery changed only what it must (a torn tail zeroed): again the same.
  log = OpenLog(&io);
  Require(log.ok(), "a recovered log does not open again", log.status().ToString());
  Require(Inspect(**log) == image, "a second Open finds another log");

  // The log goes on after recovery: an appended entry is there next time.
  if (image.last == UINT64_MAX) return 0;
  const absl::StatusOr<raft::Term> last_term = (*log)->TermAt(image.last);
  Require(last_term.ok(), "TermAt(LastIndex)", last_term.status().ToString());
  raft::Entry entry;
  entry.set_index(image.last + 1);
  entry.set_term(*last_term);
  entry.set_data("appended after recovery");
  (*log)->Save(std::nullopt, {entry}, std::nullopt, /*sync=*/true);
  log->reset();
  log = OpenLog(&io);
  Require(log.ok(), "the log does not open after an append that followed recovery",
          log.status().ToString());
  Require((*log)->LastIndex() == image.last + 1, "the appended entry is gone");
  const absl::StatusOr<std::vector<raft::Entry>> tail =
      (*log)->Entries(image.last + 1, image.last + 2, 1u << 20);
  Require(tail.ok() && tail->size() == 1 && tail->front().SerializeAsString() ==
                                                entry.SerializeAsString(),
          "the appended entry reads differently");
  return 0;
}
