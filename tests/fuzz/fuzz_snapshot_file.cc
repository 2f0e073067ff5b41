// Fuzz target: the snapshot file reader and verifier
// (storage/snapshot_format.h), which reads files a peer streamed or an
// operator handed to --restore.
//
// Input, byte 0 (mode):
//   bit 0 clear: the rest is the file as it is.
//   bit 0 set: the file is built from plain parts, so that mutations reach
//     the records behind the compression and the checks:
//       u16 block size (0: one block; else 16 + n % 4096 bytes)
//       | u16 length + header | body
//     The body (the plain bytes after the header) is compressed into
//     blocks the way the writer frames them. bit 1: the header's digest is
//     made to match the nodes the body holds; bit 2: the last 8 bytes of the
//     body are made the checksum of everything before them.
// Promises checked beyond "no crash": errors are DataLoss or
// FailedPrecondition only; ReadSnapshotHeader agrees with the full scan;
// whatever the reader accepts, the writer writes again as a file the reader
// accepts with the same header and the same record counts.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "base/hash.h"
#include "storage/fault_file_io.h"
#include "storage/snapshot_format.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/quiet_protobuf.h"
#include "zstd.h"

namespace synod::fuzz {
namespace {

constexpr std::initializer_list<absl::StatusCode> kReaderCodes = {
    absl::StatusCode::kDataLoss, absl::StatusCode::kFailedPrecondition};
constexpr size_t kDigestOffset = 8 + 4 + 8;  // magic, version, applied index
constexpr size_t kMaxPlainBlock = 1u << 20;

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The header as it is, then `body` in zstd blocks of `block` plain bytes.
std::string Frame(std::string_view header, std::string_view body, size_t block) {
  std::string file(header);
  block = block == 0 ? kMaxPlainBlock : 16 + block % 4096;
  for (size_t at = 0; at < body.size(); at += block) {
    const std::string_view plain = body.substr(at, block);
    std::string packed(ZSTD_compressBound(plain.size()), '\0');
    // One context for the process: a fresh one per block would cost more
    // than the reader under test.
    static ZSTD_CCtx* const cctx = ZSTD_createCCtx();
    const size_t n =
        ZSTD_compressCCtx(cctx, packed.data(), packed.size(), plain.data(), plain.size(), 1);
    Require(!ZSTD_isError(n), "zstd compression failed");
    PutLe(&file, n, 4);
    PutLe(&file, plain.size(), 4);
    file.append(packed.data(), n);
  }
  return file;
}

absl::Status Put(storage::FaultFileIO* io, const std::string& path, std::string_view bytes) {
  absl::StatusOr<std::unique_ptr<storage::File>> file =
      io->Open(path, storage::FileIO::OpenMode::kCreate);
  if (!file.ok()) return file.status();
  return (*file)->PWrite(0, bytes);
}

// The sum of the digest terms of the nodes the file holds (as far as it
// reads).
uint64_t NodeDigest(storage::FaultFileIO* io, const std::string& path) {
  uint64_t digest = 0;
  storage::ScanSnapshot(
      path,
      [&digest](storage::SnapshotRecord& r) {
        if (r.type == storage::SnapshotRecordType::kNode) {
          digest += storage::NodeDigestTerm(r.path, r.node);
        }
        return absl::OkStatus();
      },
      io)
      .IgnoreError();  // the final scan reports what is wrong with the file
  return digest;
}

// Writes every record the reader hands out into a new file.
absl::StatusOr<storage::SnapshotInfo> Rewrite(storage::FaultFileIO* io, const std::string& from,
                                              const storage::StoreMeta& meta,
                                              const std::string& to) {
  absl::StatusOr<std::unique_ptr<storage::SnapshotFileWriter>> writer =
      storage::SnapshotFileWriter::Create(io, to, meta);
  if (!writer.ok()) return writer.status();
  storage::SnapshotFileWriter* w = writer->get();
  absl::StatusOr<storage::SnapshotInfo> read = storage::ScanSnapshot(
      from,
      [w](storage::SnapshotRecord& r) -> absl::Status {
        switch (r.type) {
          case storage::SnapshotRecordType::kNode:
            return w->AddNode(r.path, r.node);
          case storage::SnapshotRecordType::kHistory:
            return w->AddHistory(r.path, r.number, r.history);
          case storage::SnapshotRecordType::kSession:
            return w->AddSession(r.session);
          case storage::SnapshotRecordType::kEvent:
            return w->AddEvent(r.event, 0);
          case storage::SnapshotRecordType::kGrave:
            return w->AddGrave(storage::Grave{r.number, r.path, r.seq});
        }
        return absl::InternalError("record of unknown type");
      },
      io);
  if (!read.ok()) return read.status();
  return w->Finish();
}

}  // namespace
}  // namespace synod::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synod;
  using namespace synod::fuzz;
  ByteReader in(data, size);
  const uint8_t mode = in.U8();
  storage::FaultFileIO io;
  Require(io.CreateDir("/snap").ok(), "in-memory directory");
  const std::string path = "/snap/input.snap";
  std::string file;
  if ((mode & 1) == 0) {
    file = std::string(in.Rest());
  } else {
    const size_t block = in.U16();
    std::string header(in.Field());
    std::string body(in.Rest());
    if ((mode & 2) != 0 && header.size() >= kDigestOffset + 8) {
      Require(Put(&io, path, Frame(header, body, block)).ok(), "in-memory write");
      std::string digest;
      PutLe(&digest, NodeDigest(&io, path), 8);
      header.replace(kDigestOffset, 8, digest);
    }
    if ((mode & 4) != 0 && body.size() >= 8) {
      base::StreamHasher hasher;
      hasher.Update(header);
      hasher.Update(std::string_view(body).substr(0, body.size() - 8));
      std::string sum;
      PutLe(&sum, hasher.Finish(), 8);
      body.replace(body.size() - 8, 8, sum);
    }
    file = Frame(header, body, block);
  }
  Require(Put(&io, path, file).ok(), "in-memory write");

  const absl::StatusOr<storage::SnapshotInfo> header = storage::ReadSnapshotHeader(path, &io);
  RequireTyped(header.status(), kReaderCodes, "ReadSnapshotHeader");
  const absl::StatusOr<storage::SnapshotSummary> summary = storage::VerifySnapshot(path, &io);
  RequireTyped(summary.status(), kReaderCodes, "VerifySnapshot");
  if (!summary.ok()) return 0;
  Require(header.ok() && header->meta == summary->info.meta,
          "the full scan accepts a file whose header does not read alike");
  Require(summary->info.bytes == file.size(), "the scan did not read the whole file");

  const std::string copy = "/snap/copy.snap";
  absl::StatusOr<storage::SnapshotInfo> written = Rewrite(&io, path, summary->info.meta, copy);
  Require(written.ok(), "rewrite of an accepted file failed", written.status().ToString());
  const absl::StatusOr<storage::SnapshotSummary> again = storage::VerifySnapshot(copy, &io);
  Require(again.ok(), "the writer's copy of an accepted file is refused",
          again.status().ToString());
  Require(again->info.meta == summary->info.meta && again->nodes == summary->nodes &&
              again->sessions == summary->sessions &&
              again->history_entries == summary->history_entries &&
              again->events == summary->events,
          "the writer's copy reads differently");
  return 0;
}
