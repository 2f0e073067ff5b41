// Snapshot files: TreeStore::WriteSnapshot / RestoreSnapshot and the file
// format described in snapshot.h.
#include "storage/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
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
constexpr uint8_t kNodeRecord = 1;
constexpr uint8_t kHistoryRecord = 2;
constexpr uint8_t kSessionRecord = 3;
constexpr uint8_t kEventRecord = 4;
constexpr uint8_t kGraveRecord = 5;
constexpr uint8_t kTrailer = 0xff;
constexpr size_t kMaxRecordPart = 64u << 20;  // far above any legal key/value
constexpr size_t kMaxSettingsBytes = 4096;    // far above any ClusterSettings
constexpr size_t kRestoreChunkRecords = 4096;
// Plain bytes per compressed block (format 2): big enough for zstd to find
// the repeats between neighbouring records, small enough to bound the
// writer's and reader's buffers.
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

absl::Status IoError(const std::string& what, const std::string& path) {
  int err = errno;
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EEXIST) return absl::AlreadyExistsError(msg);
  if (err == ENOSPC) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

// Buffered, checksummed writer of a new file. Bytes appended after
// StartBlocks() are written as compressed blocks (format 2).
class FileWriter {
 public:
  absl::Status Open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) return IoError("create", path);
    return absl::OkStatus();
  }
  ~FileWriter() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(path_.c_str());  // not finished: leave no half file behind
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

  absl::Status Record(uint8_t type, std::string_view key, std::string_view value) {
    scratch_.clear();
    scratch_.push_back(static_cast<char>(type));
    PutLe(&scratch_, key.size(), 4);
    scratch_.append(key);
    PutLe(&scratch_, value.size(), 4);
    ++records_;
    SYNOD_RETURN_IF_ERROR(Append(scratch_));
    return Append(value);
  }

  // Writes the trailer, syncs and closes.
  absl::Status Finish() {
    std::string trailer(1, static_cast<char>(kTrailer));
    PutLe(&trailer, records_, 8);
    SYNOD_RETURN_IF_ERROR(Append(trailer));
    checksum_ = hasher_.Finish();
    std::string sum;
    PutLe(&sum, checksum_, 8);
    SYNOD_RETURN_IF_ERROR(Append(sum, /*hashed=*/false));
    SYNOD_RETURN_IF_ERROR(Drain());
    if (::fsync(fd_) != 0) return IoError("fsync", path_);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return IoError("close", path_);
    return absl::OkStatus();
  }

  uint64_t bytes() const { return bytes_; }
  uint64_t plain_bytes() const { return plain_bytes_; }
  uint64_t checksum() const { return checksum_; }

 private:
  absl::Status Drain() {
    if (cctx_ == nullptr) {
      SYNOD_RETURN_IF_ERROR(WriteAll(buffer_));
      buffer_.clear();
      return absl::OkStatus();
    }
    for (size_t at = 0; at < buffer_.size(); at += kBlockBytes) {
      const size_t plain = std::min(kBlockBytes, buffer_.size() - at);
      block_.resize(8 + ZSTD_compressBound(plain));
      const size_t packed = ZSTD_compressCCtx(cctx_, block_.data() + 8, block_.size() - 8,
                                              buffer_.data() + at, plain, kZstdLevel);
      if (ZSTD_isError(packed)) {
        return absl::InternalError(absl::StrCat("compress ", path_, ": ", ZSTD_getErrorName(packed)));
      }
      std::string frame_header;
      PutLe(&frame_header, packed, 4);
      PutLe(&frame_header, plain, 4);
      std::memcpy(block_.data(), frame_header.data(), 8);
      block_.resize(8 + packed);
      SYNOD_RETURN_IF_ERROR(WriteAll(block_));
    }
    buffer_.clear();
    return absl::OkStatus();
  }

  absl::Status WriteAll(std::string_view bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError("write", path_);
      done += static_cast<size_t>(n);
    }
    bytes_ += bytes.size();
    // Out to the disk a MiB at a time, as LogSegments does with its zeros:
    // one fsync of a whole snapshot at the end would queue all of it at
    // once ahead of the Raft log's fdatasyncs. Only pacing: Finish's fsync
    // is what makes the file durable and reports a failure.
    if (bytes_ - written_back_ >= kBlockBytes) {
      (void)sync_file_range(fd_, static_cast<off_t>(written_back_),
                            static_cast<off_t>(bytes_ - written_back_),
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER);
      written_back_ = bytes_;
    }
    return absl::OkStatus();
  }

  std::string path_;
  int fd_ = -1;
  ZSTD_CCtx* cctx_ = nullptr;  // set once the blocks start
  std::string buffer_;
  std::string block_;
  std::string scratch_;
  base::StreamHasher hasher_;
  uint64_t bytes_ = 0;  // written to the file
  uint64_t written_back_ = 0;  // of bytes_, handed to the disk already
  uint64_t plain_bytes_ = 0;  // appended
  uint64_t records_ = 0;
  uint64_t checksum_ = 0;
};

// Buffered reader that checksums what it hands out. After StartBlocks() it
// hands out the plain bytes of the compressed blocks (format 2).
class FileReader {
 public:
  ~FileReader() {
    if (file_ != nullptr) std::fclose(file_);
    if (dctx_ != nullptr) ZSTD_freeDCtx(dctx_);
  }
  absl::Status Open(const std::string& path) {
    path_ = path;
    file_ = std::fopen(path.c_str(), "rb");
    if (file_ == nullptr) return IoError("open", path);
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
  bool AtEnd() { return plain_at_ == plain_.size() && std::fgetc(file_) == EOF; }
  uint64_t checksum() const { return hasher_.Finish(); }
  uint64_t bytes() const { return bytes_; }

 private:
  absl::Status ReadFile(size_t n, char* out) {
    if (n > 0 && std::fread(out, 1, n, file_) != n) {
      if (std::ferror(file_)) return IoError("read", path_);
      return absl::DataLossError(absl::StrCat("snapshot ", path_, " is truncated"));
    }
    bytes_ += n;
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

  std::string path_;
  std::FILE* file_ = nullptr;
  ZSTD_DCtx* dctx_ = nullptr;  // set once the blocks start
  std::string packed_;
  std::string plain_;  // the current block, handed out from plain_at_
  size_t plain_at_ = 0;
  base::StreamHasher hasher_;
  uint64_t bytes_ = 0;  // read from the file
};

absl::Status ReadHeader(FileReader* reader, SnapshotInfo* info) {
  std::string header;
  SYNOD_RETURN_IF_ERROR(reader->Read(kHeaderBytes, &header));
  if (std::string_view(header).substr(0, 8) != kMagic) {
    return absl::DataLossError("not a Synod snapshot file");
  }
  std::string_view h(header);
  info->format_version = static_cast<uint32_t>(GetLe(h.substr(8), 4));
  if (info->format_version < kOldestSnapshotFormatVersion ||
      info->format_version > kSnapshotFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot format version ", info->format_version, " is not supported (this binary reads ",
        kOldestSnapshotFormatVersion, " to ", kSnapshotFormatVersion, ")"));
  }
  info->meta.applied_index = GetLe(h.substr(12), 8);
  info->meta.digest = GetLe(h.substr(20), 8);
  info->meta.compact_revision = GetLe(h.substr(28), 8);
  if (info->format_version < 3) return absl::OkStatus();
  std::string settings;
  SYNOD_RETURN_IF_ERROR(reader->Read(4, &settings));
  const size_t length = GetLe(settings, 4);
  if (length == 0) return absl::OkStatus();
  if (length > kMaxSettingsBytes) return absl::DataLossError("snapshot settings too long");
  SYNOD_RETURN_IF_ERROR(reader->Read(length, &settings));
  ClusterSettings decoded;
  SYNOD_RETURN_IF_ERROR(DecodeSettings(settings, &decoded));
  info->meta.settings = decoded;
  return absl::OkStatus();
}

struct Record {
  uint8_t type = 0;
  std::string key;
  std::string value;
};

// Reads the next record; false at the trailer (whose count it checks).
absl::StatusOr<bool> NextRecord(FileReader* reader, uint64_t records_so_far, Record* record) {
  std::string buf;
  SYNOD_RETURN_IF_ERROR(reader->Read(1, &buf));
  record->type = static_cast<uint8_t>(buf[0]);
  if (record->type == kTrailer) {
    SYNOD_RETURN_IF_ERROR(reader->Read(8, &buf));
    if (GetLe(buf, 8) != records_so_far) return absl::DataLossError("snapshot record count");
    return false;
  }
  if (record->type < kNodeRecord || record->type > kGraveRecord) {
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

// Decoded content of one record, ready to go into a WriteSet.
struct Decoded {
  std::string path;
  uint64_t number = 0;  // history seq, session id, event or grave revision
  uint64_t seq = 0;     // grave
  Node node;
  HistoryEntry history;
  Session session;
  v1::WatchEvent event;
};

absl::Status DecodeRecord(const Record& r, Decoded* d) {
  switch (r.type) {
    case kNodeRecord:
      if (!IsValidPath(r.key)) return absl::DataLossError("snapshot node path");
      d->path = r.key;
      return DecodeNode(r.value, &d->node);
    case kHistoryRecord:
      if (r.key.size() < 9 || !IsValidPath(std::string_view(r.key).substr(0, r.key.size() - 8))) {
        return absl::DataLossError("snapshot history key");
      }
      d->path = r.key.substr(0, r.key.size() - 8);
      d->number = keys::ReadBigEndian64(std::string_view(r.key).substr(r.key.size() - 8));
      return DecodeHistoryEntry(r.value, &d->history);
    case kSessionRecord:
      if (r.key.size() != 8) return absl::DataLossError("snapshot session key");
      d->number = keys::ReadBigEndian64(r.key);
      return DecodeSession(r.value, &d->session);
    case kGraveRecord:
      if (r.key.size() < 9 || r.value.size() != 8 ||
          !IsValidPath(std::string_view(r.key).substr(8))) {
        return absl::DataLossError("snapshot grave record");
      }
      d->number = keys::ReadBigEndian64(r.key);
      d->path = r.key.substr(8);
      d->seq = keys::ReadBigEndian64(r.value);
      return absl::OkStatus();
    case kEventRecord:
      if (r.key.size() != 12) return absl::DataLossError("snapshot event key");
      d->number = keys::ReadBigEndian64(r.key);
      if (!d->event.ParseFromString(r.value) || d->event.revision() != d->number) {
        return absl::DataLossError("snapshot event record");
      }
      return absl::OkStatus();
  }
  return absl::DataLossError("snapshot record of unknown type");
}

// One pass over a snapshot file: checks it end to end and, if `sink` is
// set, feeds every decoded record to it.
absl::StatusOr<SnapshotInfo> ScanSnapshot(
    const std::string& file_path, const std::function<absl::Status(Decoded&, uint8_t)>& sink) {
  FileReader reader;
  SYNOD_RETURN_IF_ERROR(reader.Open(file_path));
  SnapshotInfo info;
  SYNOD_RETURN_IF_ERROR(ReadHeader(&reader, &info));
  if (info.format_version >= 2) SYNOD_RETURN_IF_ERROR(reader.StartBlocks());
  uint64_t records = 0;
  uint64_t digest = 0;
  Record record;
  Decoded decoded;
  for (;;) {
    absl::StatusOr<bool> more = NextRecord(&reader, records, &record);
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++records;
    SYNOD_RETURN_IF_ERROR(DecodeRecord(record, &decoded));
    if (record.type == kNodeRecord) digest += NodeDigestTerm(decoded.path, decoded.node);
    if (sink) SYNOD_RETURN_IF_ERROR(sink(decoded, record.type));
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

}  // namespace

absl::StatusOr<SnapshotInfo> ReadSnapshotHeader(const std::string& file_path) {
  FileReader reader;
  SYNOD_RETURN_IF_ERROR(reader.Open(file_path));
  SnapshotInfo info;
  SYNOD_RETURN_IF_ERROR(ReadHeader(&reader, &info));
  return info;
}

absl::StatusOr<SnapshotSummary> VerifySnapshot(const std::string& file_path) {
  SnapshotSummary summary;
  absl::StatusOr<SnapshotInfo> info =
      ScanSnapshot(file_path, [&summary](Decoded&, uint8_t type) -> absl::Status {
        switch (type) {
          case kNodeRecord:
            ++summary.nodes;
            break;
          case kSessionRecord:
            ++summary.sessions;
            break;
          case kHistoryRecord:
            ++summary.history_entries;
            break;
          case kEventRecord:
            ++summary.events;
            break;
        }
        return absl::OkStatus();
      });
  if (!info.ok()) return info.status();
  summary.info = *info;
  return summary;
}

absl::StatusOr<SnapshotInfo> TreeStore::WriteSnapshot(const std::string& file_path) {
  absl::StatusOr<std::unique_ptr<StateView>> view = NewView();
  if (!view.ok()) return view.status();
  StateView* v = view->get();
  FileWriter out;
  SYNOD_RETURN_IF_ERROR(out.Open(file_path));
  SnapshotInfo info;
  info.format_version = kSnapshotFormatVersion;
  info.meta = v->meta();
  std::string header(kMagic);
  PutLe(&header, kSnapshotFormatVersion, 4);
  PutLe(&header, info.meta.applied_index, 8);
  PutLe(&header, info.meta.digest, 8);
  PutLe(&header, info.meta.compact_revision, 8);
  const std::string settings =
      info.meta.settings.has_value() ? EncodeSettings(*info.meta.settings) : std::string();
  PutLe(&header, settings.size(), 4);
  header.append(settings);
  SYNOD_RETURN_IF_ERROR(out.Append(header));
  SYNOD_RETURN_IF_ERROR(out.StartBlocks());

  SYNOD_RETURN_IF_ERROR(v->ForEachNode([&](std::string_view path, const Node& node) {
    return out.Record(kNodeRecord, path, EncodeNode(node));
  }));
  SYNOD_RETURN_IF_ERROR(
      v->ForEachHistory([&](std::string_view path, uint64_t seq, const HistoryEntry& entry) {
        std::string key(path);
        keys::AppendBigEndian64(&key, seq);
        return out.Record(kHistoryRecord, key, EncodeHistoryEntry(entry));
      }));
  std::vector<Session> sessions;
  SYNOD_RETURN_IF_ERROR(v->ListSessions(&sessions));
  for (const Session& session : sessions) {
    std::string key;
    keys::AppendBigEndian64(&key, session.id);
    SYNOD_RETURN_IF_ERROR(out.Record(kSessionRecord, key, EncodeSession(session)));
  }
  std::vector<Grave> graves;
  SYNOD_RETURN_IF_ERROR(v->ListGraves(UINT64_MAX, 0, &graves));
  for (const Grave& grave : graves) {
    std::string key;
    keys::AppendBigEndian64(&key, grave.revision);
    key.append(grave.path);
    std::string value;
    keys::AppendBigEndian64(&value, grave.seq);
    SYNOD_RETURN_IF_ERROR(out.Record(kGraveRecord, key, value));
  }
  uint64_t after = 0;
  for (;;) {
    std::vector<v1::WatchEvent> events;
    SYNOD_RETURN_IF_ERROR(v->ListEvents(after, 4096, &events));
    if (events.empty()) break;
    uint32_t index = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      index = i > 0 && events[i].revision() == events[i - 1].revision() ? index + 1 : 0;
      std::string key;
      keys::AppendBigEndian64(&key, events[i].revision());
      keys::AppendBigEndian32(&key, index);
      SYNOD_RETURN_IF_ERROR(out.Record(kEventRecord, key, events[i].SerializeAsString()));
    }
    after = events.back().revision();
  }
  SYNOD_RETURN_IF_ERROR(out.Finish());
  info.bytes = out.bytes();
  info.plain_bytes = out.plain_bytes();
  info.checksum = out.checksum();
  return info;
}

absl::StatusOr<SnapshotInfo> TreeStore::RestoreSnapshot(const std::string& file_path) {
  // First pass: the whole file must be sound before the state is touched.
  absl::StatusOr<SnapshotInfo> checked = ScanSnapshot(file_path, nullptr);
  if (!checked.ok()) return checked.status();

  SYNOD_RETURN_IF_ERROR(BeginRestore(checked->meta));
  WriteSet chunk;
  size_t in_chunk = 0;
  auto flush = [&]() -> absl::Status {
    absl::Status s = RestoreChunk(chunk);
    chunk = WriteSet();
    in_chunk = 0;
    return s;
  };
  absl::StatusOr<SnapshotInfo> loaded =
      ScanSnapshot(file_path, [&](Decoded& d, uint8_t type) -> absl::Status {
        // A revision's events stay in one chunk (stores number them per
        // chunk).
        bool same_revision = type == kEventRecord && !chunk.events.empty() &&
                             chunk.events.back().revision() == d.number;
        if (in_chunk >= kRestoreChunkRecords && !same_revision) SYNOD_RETURN_IF_ERROR(flush());
        ++in_chunk;
        switch (type) {
          case kNodeRecord:
            if (d.node.kind == NodeKind::kEphemeral) {
              chunk.ephemerals[{d.node.stat.ephemeral_owner, d.path}] = true;
            }
            if (d.node.kind == NodeKind::kTtl || d.node.kind == NodeKind::kContainer) {
              chunk.expiry[d.path] = true;
            }
            chunk.nodes.insert_or_assign(d.path, std::move(d.node));
            break;
          case kHistoryRecord:
            chunk.history.insert_or_assign({d.path, d.number}, std::move(d.history));
            break;
          case kSessionRecord:
            chunk.sessions.insert_or_assign(d.number, std::move(d.session));
            break;
          case kEventRecord:
            chunk.events.push_back(std::move(d.event));
            break;
          case kGraveRecord:
            chunk.graves.insert_or_assign({d.number, d.path}, d.seq);
            break;
        }
        return absl::OkStatus();
      });
  // A failure here leaves the store marked as being restored: it will not
  // open until a restore completes.
  if (!loaded.ok()) return loaded.status();
  SYNOD_RETURN_IF_ERROR(flush());
  SYNOD_RETURN_IF_ERROR(FinishRestore(loaded->meta));
  return *loaded;
}

}  // namespace synod::storage
