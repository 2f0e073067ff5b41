// The snapshot file format (snapshot_format.h): writer, reader, checks.
#include "storage/snapshot_format.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/hash.h"
#include "base/status_macros.h"
#include "storage/format.h"
#include "storage/path.h"
#include "zstd.h"

namespace synod::storage {
namespace {

constexpr std::string_view kMagic = "SYNODSNP";
constexpr size_t kHeaderBytes = 8 + 4 + 8 + 8 + 8;
constexpr uint8_t kTrailer = 0xff;
constexpr size_t kMaxRecordPart = 64u << 20;  // far above any legal key/value
constexpr size_t kMaxSettingsBytes = 4096;    // far above any ClusterSettings
// Far above 1,000 users with their hashes and salts.
constexpr size_t kMaxAuthBytes = 16 << 20;
// 1,000 quotas (storage/quota.h) with paths of up to a few KiB.
constexpr size_t kMaxQuotaBytes = 16 << 20;
// Plain bytes per compressed block: big enough for zstd to find the repeats
// between neighbouring records, small enough to bound the writer's and
// reader's buffers.
constexpr size_t kBlockBytes = 1u << 20;
// zstd's fastest level: the snapshot thread competes with the write path.
constexpr int kZstdLevel = 1;

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out->push_back(static_cast<char>(v & 0xff));
    v >>= 8;
  }
}

uint64_t GetLe(std::string_view in, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

FileIO* OrPosix(FileIO* io) { return io != nullptr ? io : FileIO::Posix(); }

// Reads a snapshot file: the plain header, then the plain bytes of the
// compressed blocks, checksumming what it hands out.
class SnapshotFileReader {
 public:
  explicit SnapshotFileReader(std::string path) : path_(std::move(path)) {}
  ~SnapshotFileReader() {
    if (dctx_ != nullptr) ZSTD_freeDCtx(dctx_);
  }

  absl::Status Open(FileIO* io) {
    absl::StatusOr<std::unique_ptr<File>> file = io->Open(path_, FileIO::OpenMode::kRead);
    if (!file.ok()) return file.status();
    file_ = *std::move(file);
    absl::StatusOr<uint64_t> size = file_->Size();
    if (!size.ok()) return size.status();
    size_ = *size;
    return absl::OkStatus();
  }
  absl::Status StartBlocks() {
    dctx_ = ZSTD_createDCtx();
    if (dctx_ == nullptr) return absl::ResourceExhaustedError("zstd decompression context");
    return absl::OkStatus();
  }
  // Reads exactly n bytes into *out; DataLoss on a short file.
  absl::Status Read(size_t n, std::string* out, bool hashed = true) {
    out->resize(n);
    if (dctx_ == nullptr) {
      SYNOD_RETURN_IF_ERROR(ReadFile(n, out->data()));
    } else {
      size_t got = 0;
      while (got < n) {
        if (plain_at_ == plain_.size()) SYNOD_RETURN_IF_ERROR(NextBlock());
        const size_t take = std::min(n - got, plain_.size() - plain_at_);
        std::memcpy(out->data() + got, plain_.data() + plain_at_, take);
        got += take;
        plain_at_ += take;
      }
    }
    if (hashed) hasher_.Update(*out);
    return absl::OkStatus();
  }
  bool AtEnd() const { return plain_at_ == plain_.size() && at_ == size_; }
  uint64_t checksum() const { return hasher_.Finish(); }
  uint64_t bytes() const { return at_; }

 private:
  absl::Status ReadFile(size_t n, char* out) {
    if (n > size_ - at_)
      return absl::DataLossError(absl::StrCat("snapshot ", path_, " is truncated"));
    if (n > 0) SYNOD_RETURN_IF_ERROR(file_->PRead(at_, n, out));
    at_ += n;
    return absl::OkStatus();
  }

  absl::Status NextBlock() {
    char frame_header[8];
    SYNOD_RETURN_IF_ERROR(ReadFile(8, frame_header));
    const std::string_view h(frame_header, 8);
    const size_t packed = GetLe(h, 4);
    const size_t plain = GetLe(h.substr(4), 4);
    if (plain == 0 || plain > kBlockBytes || packed > ZSTD_compressBound(plain)) {
      return absl::DataLossError(absl::StrCat("snapshot ", path_, ": bad block lengths"));
    }
    packed_.resize(packed);
    SYNOD_RETURN_IF_ERROR(ReadFile(packed, packed_.data()));
    plain_.resize(plain);
    const size_t n = ZSTD_decompressDCtx(dctx_, plain_.data(), plain, packed_.data(), packed);
    if (ZSTD_isError(n) || n != plain) {
      return absl::DataLossError(absl::StrCat("snapshot ", path_, ": damaged compressed block"));
    }
    plain_at_ = 0;
    return absl::OkStatus();
  }

  const std::string path_;
  std::unique_ptr<File> file_;
  uint64_t size_ = 0;
  uint64_t at_ = 0;            // next byte of the file to read
  ZSTD_DCtx* dctx_ = nullptr;  // set once the blocks start
  std::string packed_;
  std::string plain_;  // the current block, handed out from plain_at_
  size_t plain_at_ = 0;
  base::StreamHasher hasher_;
};

// Reads a header part "u8 present | u32 length | serialized message" into
// `out` (null when absent). `what` names it in errors.
template <typename Message>
absl::Status ReadOptionalMessage(SnapshotFileReader* reader, size_t max_bytes, const char* what,
                                 std::shared_ptr<const Message>* out) {
  std::string bytes;
  SYNOD_RETURN_IF_ERROR(reader->Read(5, &bytes));
  const uint8_t present = static_cast<uint8_t>(bytes[0]);
  const size_t length = GetLe(std::string_view(bytes).substr(1), 4);
  if (present > 1 || (present == 0 && length != 0)) {
    return absl::DataLossError(absl::StrCat("malformed snapshot ", what));
  }
  if (length > max_bytes) return absl::DataLossError(absl::StrCat("snapshot ", what, " too long"));
  out->reset();
  if (present == 0) return absl::OkStatus();
  bytes.clear();
  if (length > 0) SYNOD_RETURN_IF_ERROR(reader->Read(length, &bytes));
  auto message = std::make_shared<Message>();
  if (!message->ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("malformed snapshot ", what));
  }
  *out = std::move(message);
  return absl::OkStatus();
}

// Appends what ReadOptionalMessage reads.
void AppendOptionalMessage(const google::protobuf::Message* message, std::string* header) {
  std::string bytes;
  if (message != nullptr) message->SerializeToString(&bytes);
  header->push_back(message != nullptr ? 1 : 0);
  PutLe(header, bytes.size(), 4);
  header->append(bytes);
}

absl::Status ReadHeader(SnapshotFileReader* reader, SnapshotInfo* info) {
  std::string header;
  SYNOD_RETURN_IF_ERROR(reader->Read(kHeaderBytes, &header));
  if (std::string_view(header).substr(0, 8) != kMagic) {
    return absl::DataLossError("not a Synod snapshot file");
  }
  std::string_view h(header);
  info->format_version = static_cast<uint32_t>(GetLe(h.substr(8), 4));
  if (info->format_version != kSnapshotFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot format version ", info->format_version,
        " is not supported (this binary reads version ", kSnapshotFormatVersion, " only)"));
  }
  info->meta.applied_index = GetLe(h.substr(12), 8);
  info->meta.digest = GetLe(h.substr(20), 8);
  info->meta.compact_revision = GetLe(h.substr(28), 8);
  std::string settings;
  SYNOD_RETURN_IF_ERROR(reader->Read(4, &settings));
  const size_t length = GetLe(settings, 4);
  if (length > kMaxSettingsBytes) return absl::DataLossError("snapshot settings too long");
  if (length > 0) {
    SYNOD_RETURN_IF_ERROR(reader->Read(length, &settings));
    ClusterSettings decoded;
    SYNOD_RETURN_IF_ERROR(DecodeSettings(settings, &decoded));
    info->meta.settings = decoded;
  }
  SYNOD_RETURN_IF_ERROR(
      ReadOptionalMessage(reader, kMaxAuthBytes, "auth state", &info->meta.auth));
  return ReadOptionalMessage(reader, kMaxQuotaBytes, "quotas", &info->meta.quotas);
}

struct RawRecord {
  uint8_t type = 0;
  std::string key;
  std::string value;
};

// Reads the next record; false at the trailer (whose count it checks).
absl::StatusOr<bool> NextRecord(SnapshotFileReader* reader, uint64_t records_so_far,
                                RawRecord* record) {
  std::string buf;
  SYNOD_RETURN_IF_ERROR(reader->Read(1, &buf));
  record->type = static_cast<uint8_t>(buf[0]);
  if (record->type == kTrailer) {
    SYNOD_RETURN_IF_ERROR(reader->Read(8, &buf));
    if (GetLe(buf, 8) != records_so_far) return absl::DataLossError("snapshot record count");
    return false;
  }
  if (record->type < static_cast<uint8_t>(SnapshotRecordType::kNode) ||
      record->type > static_cast<uint8_t>(SnapshotRecordType::kGrave)) {
    return absl::DataLossError("snapshot record of unknown type");
  }
  SYNOD_RETURN_IF_ERROR(reader->Read(4, &buf));
  size_t key_len = GetLe(buf, 4);
  if (key_len > kMaxRecordPart) return absl::DataLossError("snapshot key too long");
  SYNOD_RETURN_IF_ERROR(reader->Read(key_len, &record->key));
  SYNOD_RETURN_IF_ERROR(reader->Read(4, &buf));
  size_t value_len = GetLe(buf, 4);
  if (value_len > kMaxRecordPart) return absl::DataLossError("snapshot value too long");
  SYNOD_RETURN_IF_ERROR(reader->Read(value_len, &record->value));
  return true;
}

absl::Status DecodeRecord(const RawRecord& r, SnapshotRecord* d) {
  d->type = static_cast<SnapshotRecordType>(r.type);
  switch (d->type) {
    case SnapshotRecordType::kNode:
      if (!IsValidPath(r.key)) return absl::DataLossError("snapshot node path");
      d->path = r.key;
      return DecodeNode(r.value, &d->node);
    case SnapshotRecordType::kHistory:
      if (r.key.size() < 9 || !IsValidPath(std::string_view(r.key).substr(0, r.key.size() - 8))) {
        return absl::DataLossError("snapshot history key");
      }
      d->path = r.key.substr(0, r.key.size() - 8);
      d->number = keys::ReadBigEndian64(std::string_view(r.key).substr(r.key.size() - 8));
      return DecodeHistoryEntry(r.value, &d->history);
    case SnapshotRecordType::kSession:
      if (r.key.size() != 8) return absl::DataLossError("snapshot session key");
      d->number = keys::ReadBigEndian64(r.key);
      return DecodeSession(r.value, &d->session);
    case SnapshotRecordType::kGrave:
      if (r.key.size() < 9 || r.value.size() != 8 ||
          !IsValidPath(std::string_view(r.key).substr(8))) {
        return absl::DataLossError("snapshot grave record");
      }
      d->number = keys::ReadBigEndian64(r.key);
      d->path = r.key.substr(8);
      d->seq = keys::ReadBigEndian64(r.value);
      return absl::OkStatus();
    case SnapshotRecordType::kEvent:
      if (r.key.size() != 12) return absl::DataLossError("snapshot event key");
      d->number = keys::ReadBigEndian64(r.key);
      if (!d->event.ParseFromString(r.value) || d->event.revision() != d->number) {
        return absl::DataLossError("snapshot event record");
      }
      return absl::OkStatus();
  }
  return absl::DataLossError("snapshot record of unknown type");
}

}  // namespace

// Buffered, checksummed writer: the header as it is, everything after it in
// compressed blocks.
class SnapshotFileWriter::Impl {
 public:
  Impl(FileIO* io, std::string path, std::unique_ptr<File> file, const StoreMeta& meta)
      : io_(io), path_(std::move(path)), file_(std::move(file)), meta_(meta) {}
  ~Impl() {
    if (file_ != nullptr) {
      file_.reset();
      // Not finished: leave no half file behind. A name that stays is only
      // a temporary file, removed with the others at the next start.
      io_->Unlink(path_).IgnoreError();
    }
    if (cctx_ != nullptr) ZSTD_freeCCtx(cctx_);
  }

  absl::Status Append(std::string_view bytes, bool hashed = true) {
    if (hashed) hasher_.Update(bytes);
    buffer_.append(bytes);
    plain_bytes_ += bytes.size();
    return buffer_.size() >= kBlockBytes ? Drain() : absl::OkStatus();
  }

  // Writes what is buffered as it is; everything appended later goes into
  // compressed blocks.
  absl::Status StartBlocks() {
    SYNOD_RETURN_IF_ERROR(Drain());
    cctx_ = ZSTD_createCCtx();
    if (cctx_ == nullptr) return absl::ResourceExhaustedError("zstd compression context");
    return absl::OkStatus();
  }

  absl::Status Record(SnapshotRecordType type, std::string_view key, std::string_view value) {
    scratch_.clear();
    scratch_.push_back(static_cast<char>(type));
    PutLe(&scratch_, key.size(), 4);
    scratch_.append(key);
    PutLe(&scratch_, value.size(), 4);
    ++records_;
    SYNOD_RETURN_IF_ERROR(Append(scratch_));
    return Append(value);
  }

  absl::Status Finish() {
    std::string trailer(1, static_cast<char>(kTrailer));
    PutLe(&trailer, records_, 8);
    SYNOD_RETURN_IF_ERROR(Append(trailer));
    checksum_ = hasher_.Finish();
    std::string sum;
    PutLe(&sum, checksum_, 8);
    SYNOD_RETURN_IF_ERROR(Append(sum, /*hashed=*/false));
    SYNOD_RETURN_IF_ERROR(Drain());
    file_.reset();
    return absl::OkStatus();
  }

  SnapshotInfo info() const {
    SnapshotInfo info;
    info.format_version = kSnapshotFormatVersion;
    info.meta = meta_;
    info.bytes = bytes_;
    info.plain_bytes = plain_bytes_;
    info.checksum = checksum_;
    return info;
  }

 private:
  absl::Status Drain() {
    if (cctx_ == nullptr) {
      SYNOD_RETURN_IF_ERROR(Write(buffer_));
      buffer_.clear();
      return absl::OkStatus();
    }
    for (size_t at = 0; at < buffer_.size(); at += kBlockBytes) {
      const size_t plain = std::min(kBlockBytes, buffer_.size() - at);
      block_.resize(8 + ZSTD_compressBound(plain));
      const size_t packed = ZSTD_compressCCtx(cctx_, block_.data() + 8, block_.size() - 8,
                                              buffer_.data() + at, plain, kZstdLevel);
      if (ZSTD_isError(packed)) {
        return absl::InternalError(
            absl::StrCat("compress ", path_, ": ", ZSTD_getErrorName(packed)));
      }
      std::string frame_header;
      PutLe(&frame_header, packed, 4);
      PutLe(&frame_header, plain, 4);
      std::memcpy(block_.data(), frame_header.data(), 8);
      block_.resize(8 + packed);
      SYNOD_RETURN_IF_ERROR(Write(block_));
    }
    buffer_.clear();
    return absl::OkStatus();
  }

  absl::Status Write(std::string_view bytes) {
    if (bytes.empty()) return absl::OkStatus();
    SYNOD_RETURN_IF_ERROR(file_->PWrite(bytes_, bytes));
    bytes_ += bytes.size();
    // Out to the disk a MiB at a time, as LogSegments does with its zeros:
    // one sync of a whole snapshot at the end would queue all of it at once
    // ahead of the Raft log's fdatasyncs.
    if (bytes_ - written_back_ >= kBlockBytes) {
      file_->WriteBack(written_back_, bytes_ - written_back_);
      written_back_ = bytes_;
    }
    return absl::OkStatus();
  }

  FileIO* const io_;
  const std::string path_;
  std::unique_ptr<File> file_;  // null once finished
  const StoreMeta meta_;
  ZSTD_CCtx* cctx_ = nullptr;  // set once the blocks start
  std::string buffer_;
  std::string block_;
  std::string scratch_;
  base::StreamHasher hasher_;
  uint64_t bytes_ = 0;         // written to the file
  uint64_t written_back_ = 0;  // of bytes_, handed to the disk already
  uint64_t plain_bytes_ = 0;   // appended
  uint64_t records_ = 0;
  uint64_t checksum_ = 0;
};

SnapshotFileWriter::SnapshotFileWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SnapshotFileWriter::~SnapshotFileWriter() = default;

absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> SnapshotFileWriter::Create(
    FileIO* io, const std::string& path, const StoreMeta& meta) {
  io = OrPosix(io);
  absl::StatusOr<std::unique_ptr<File>> file = io->Open(path, FileIO::OpenMode::kCreateNew);
  if (!file.ok()) return file.status();
  auto impl = std::make_unique<Impl>(io, path, *std::move(file), meta);
  std::string header(kMagic);
  PutLe(&header, kSnapshotFormatVersion, 4);
  PutLe(&header, meta.applied_index, 8);
  PutLe(&header, meta.digest, 8);
  PutLe(&header, meta.compact_revision, 8);
  const std::string settings =
      meta.settings.has_value() ? EncodeSettings(*meta.settings) : std::string();
  PutLe(&header, settings.size(), 4);
  header.append(settings);
  AppendOptionalMessage(meta.auth.get(), &header);
  AppendOptionalMessage(meta.quotas.get(), &header);
  SYNOD_RETURN_IF_ERROR(impl->Append(header));
  SYNOD_RETURN_IF_ERROR(impl->StartBlocks());
  return std::unique_ptr<SnapshotFileWriter>(new SnapshotFileWriter(std::move(impl)));
}

absl::Status SnapshotFileWriter::AddNode(std::string_view path, const Node& node) {
  return impl_->Record(SnapshotRecordType::kNode, path, EncodeNode(node));
}

absl::Status SnapshotFileWriter::AddHistory(std::string_view path, uint64_t seq,
                                            const HistoryEntry& entry) {
  std::string key(path);
  keys::AppendBigEndian64(&key, seq);
  return impl_->Record(SnapshotRecordType::kHistory, key, EncodeHistoryEntry(entry));
}

absl::Status SnapshotFileWriter::AddSession(const Session& session) {
  std::string key;
  keys::AppendBigEndian64(&key, session.id);
  return impl_->Record(SnapshotRecordType::kSession, key, EncodeSession(session));
}

absl::Status SnapshotFileWriter::AddGrave(const Grave& grave) {
  std::string key;
  keys::AppendBigEndian64(&key, grave.revision);
  key.append(grave.path);
  std::string value;
  keys::AppendBigEndian64(&value, grave.seq);
  return impl_->Record(SnapshotRecordType::kGrave, key, value);
}

absl::Status SnapshotFileWriter::AddEvent(const v1::WatchEvent& event, uint32_t index) {
  std::string key;
  keys::AppendBigEndian64(&key, event.revision());
  keys::AppendBigEndian32(&key, index);
  return impl_->Record(SnapshotRecordType::kEvent, key, event.SerializeAsString());
}

absl::StatusOr<SnapshotInfo> SnapshotFileWriter::Finish() {
  SYNOD_RETURN_IF_ERROR(impl_->Finish());
  return impl_->info();
}

absl::StatusOr<SnapshotInfo> ScanSnapshot(const std::string& file_path, const SnapshotSink& sink,
                                          FileIO* io) {
  SnapshotFileReader reader(file_path);
  SYNOD_RETURN_IF_ERROR(reader.Open(OrPosix(io)));
  SnapshotInfo info;
  SYNOD_RETURN_IF_ERROR(ReadHeader(&reader, &info));
  SYNOD_RETURN_IF_ERROR(reader.StartBlocks());
  uint64_t records = 0;
  uint64_t digest = 0;
  RawRecord raw;
  SnapshotRecord record;
  for (;;) {
    absl::StatusOr<bool> more = NextRecord(&reader, records, &raw);
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++records;
    SYNOD_RETURN_IF_ERROR(DecodeRecord(raw, &record));
    if (record.type == SnapshotRecordType::kNode)
      digest += NodeDigestTerm(record.path, record.node);
    if (sink) SYNOD_RETURN_IF_ERROR(sink(record));
  }
  uint64_t computed = reader.checksum();
  std::string sum;
  SYNOD_RETURN_IF_ERROR(reader.Read(8, &sum, /*hashed=*/false));
  if (GetLe(sum, 8) != computed) return absl::DataLossError("snapshot checksum mismatch");
  if (!reader.AtEnd()) return absl::DataLossError("snapshot has bytes after its trailer");
  if (digest != info.meta.digest) return absl::DataLossError("snapshot digest mismatch");
  info.bytes = reader.bytes();
  info.checksum = computed;
  return info;
}

absl::StatusOr<SnapshotInfo> ReadSnapshotHeader(const std::string& file_path, FileIO* io) {
  SnapshotFileReader reader(file_path);
  SYNOD_RETURN_IF_ERROR(reader.Open(OrPosix(io)));
  SnapshotInfo info;
  SYNOD_RETURN_IF_ERROR(ReadHeader(&reader, &info));
  return info;
}

absl::StatusOr<SnapshotSummary> VerifySnapshot(const std::string& file_path, FileIO* io) {
  SnapshotSummary summary;
  absl::StatusOr<SnapshotInfo> info = ScanSnapshot(
      file_path,
      [&summary](SnapshotRecord& record) -> absl::Status {
        switch (record.type) {
          case SnapshotRecordType::kNode:
            ++summary.nodes;
            break;
          case SnapshotRecordType::kSession:
            ++summary.sessions;
            break;
          case SnapshotRecordType::kHistory:
            ++summary.history_entries;
            break;
          case SnapshotRecordType::kEvent:
            ++summary.events;
            break;
          case SnapshotRecordType::kGrave:
            break;
        }
        return absl::OkStatus();
      },
      io);
  if (!info.ok()) return info.status();
  summary.info = *info;
  return summary;
}

}  // namespace synod::storage
