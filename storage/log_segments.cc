#include "storage/log_segments.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/crc32c.h"
#include "storage/format.h"

namespace synod::storage {
namespace {

constexpr char kMagic[8] = {'S', 'Y', 'N', 'O', 'D', 'L', 'O', 'G'};
// Ends every batch. Each byte has several bits set, so no single flipped bit
// makes one of them zero: a present mark with a zero byte is a torn write.
constexpr char kBatchEnd[LogSegments::kBatchEndBytes] = {'\xa5', '\x5a', '\xc3', '\x3c'};
constexpr char kSpareName[] = "spare.zero";
constexpr char kSpareTemp[] = "spare.tmp";
constexpr size_t kZeroChunk = 1u << 20;

void PutLe32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetLe32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// CRC of a record: the place it was written (segment, offset), then type and
// body, which are contiguous after the size and CRC fields.
uint32_t RecordCrc(uint32_t segment, uint64_t offset, const char* type_and_body, size_t n) {
  char place[8];
  PutLe32(place, segment);
  PutLe32(place + 4, static_cast<uint32_t>(offset));
  return base::Crc32cExtend(base::Crc32cExtend(0, place, sizeof(place)), type_and_body, n);
}

// CRC of a batch header: where the batch was written and its size.
uint32_t BatchCrc(uint32_t segment, uint64_t offset, uint32_t size) {
  char fields[12];
  PutLe32(fields, segment);
  PutLe32(fields + 4, static_cast<uint32_t>(offset));
  PutLe32(fields + 8, size);
  return base::Crc32c(std::string_view(fields, sizeof(fields)));
}

void SegmentHeader(uint32_t seq, char* out) {
  std::memcpy(out, kMagic, 8);
  PutLe32(out + 8, seq);
  PutLe32(out + 12, kLogFormatVersion);
}

bool KnownType(uint8_t t) { return t >= 1 && t <= 4; }

[[noreturn]] void Fatal(const std::string& what) {
  std::fprintf(stderr, "FATAL: LogStore: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void CheckOk(const absl::Status& s) {
  if (!s.ok()) Fatal(std::string(s.message()));
}

// Writes zeros over [from, to) of `file`, each chunk out to the disk before
// the next (not yet durable: the caller syncs). A segment is 16 MiB by
// default: left to one fdatasync at the end, all of it would enter the
// disk's queue at once, and the fdatasync of a Ready issued meanwhile would
// wait behind it (tens of ms of write latency every few seconds under load).
absl::Status WriteZeros(File* file, uint64_t from, uint64_t to) {
  static const std::string zeros(kZeroChunk, '\0');
  while (from < to) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, to - from));
    if (absl::Status s = file->PWrite(from, std::string_view(zeros.data(), n)); !s.ok()) return s;
    file->WriteBack(from, n);
    from += n;
  }
  return absl::OkStatus();
}

}  // namespace

RecordBatch::RecordBatch()
    : bytes_(LogSegments::kHeaderBytes + LogSegments::kBatchHeaderBytes, '\0') {}

size_t RecordBatch::Add(RecordType type, const google::protobuf::MessageLite& body) {
  const size_t start = bytes_.size();
  const size_t size = body.ByteSizeLong();
  bytes_.resize(start + LogSegments::kRecordHeaderBytes + size);
  char* p = bytes_.data() + start;
  PutLe32(p, static_cast<uint32_t>(size));
  PutLe32(p + 4, 0);  // the CRC depends on where the batch lands: Write
  p[8] = static_cast<char>(type);
  body.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p + 9));
  const size_t offset = start - LogSegments::kHeaderBytes;
  starts_.push_back(offset);
  return offset;
}

size_t RecordBatch::Append(const RecordBatch& tail) {
  const size_t first = LogSegments::kHeaderBytes + LogSegments::kBatchHeaderBytes;
  const size_t shift = bytes_.size() - first;
  bytes_.append(tail.bytes_, first, std::string::npos);
  for (size_t start : tail.starts_) starts_.push_back(start + shift);
  return shift;
}

size_t RecordBatch::bytes() const {
  return bytes_.size() - LogSegments::kHeaderBytes + LogSegments::kBatchEndBytes;
}

std::string LogSegments::SegmentPath(uint32_t seq) const {
  return absl::StrFormat("%s/%016x.seg", options_.dir, seq);
}

// Creates `path` holding `bytes` zeros, synced. The blocks are really
// written (not fallocated), so later writes overwrite allocated blocks.
absl::Status LogSegments::CreateZeroed(const std::string& path, uint64_t bytes) const {
  absl::StatusOr<std::unique_ptr<File>> file = io_->Open(path, FileIO::OpenMode::kCreate);
  if (!file.ok()) return file.status();
  absl::Status s = WriteZeros(file->get(), 0, bytes);
  if (s.ok()) s = (*file)->DataSync();
  if (!s.ok()) {
    file->reset();
    // The file is useless half made; a leftover is removed by the next Open.
    io_->Unlink(path).IgnoreError();
  }
  return s;
}

absl::StatusOr<std::unique_ptr<LogSegments>> LogSegments::Open(const Options& options,
                                                               const Visitor& visit) {
  if (options.dir.empty()) return absl::InvalidArgumentError("log directory not set");
  std::unique_ptr<LogSegments> segments(new LogSegments(options));
  if (absl::Status s = segments->Load(visit); !s.ok()) return s;
  bool spare_ready;
  {
    absl::MutexLock lock(&segments->mu_);
    spare_ready = segments->spare_ready_;
    segments->want_spare_ = !spare_ready && options.background_spare;
  }
  if (!options.background_spare) {
    if (!spare_ready) {
      // As at rotation: not fatal, the next rotation makes the segment.
      if (absl::Status s = segments->PrepareSpare(); !s.ok()) {
        std::fprintf(stderr, "LogStore: cannot prepare the next log segment: %s\n",
                     s.ToString().c_str());
      }
    }
    return segments;
  }
  segments->spare_thread_ = std::thread([p = segments.get()] { p->SpareLoop(); });
  return segments;
}

LogSegments::~LogSegments() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (spare_thread_.joinable()) spare_thread_.join();
}

absl::Status LogSegments::Load(const Visitor& visit) {
  absl::StatusOr<bool> created = io_->CreateDir(options_.dir);
  if (!created.ok()) return created.status();
  if (*created) {
    if (absl::Status s = io_->SyncDir(ParentDir(options_.dir)); !s.ok()) return s;
  }
  absl::StatusOr<std::vector<std::string>> names = io_->List(options_.dir);
  if (!names.ok()) return names.status();

  std::vector<uint32_t> seqs;
  for (const std::string& name : *names) {
    const std::string path = options_.dir + "/" + name;
    if (name == kSpareName) {
      absl::StatusOr<std::unique_ptr<File>> spare = io_->Open(path, FileIO::OpenMode::kExisting);
      if (!spare.ok()) return spare.status();
      absl::StatusOr<uint64_t> size = (*spare)->Size();
      if (!size.ok()) return size.status();
      const bool whole = *size == options_.segment_bytes;
      {
        absl::MutexLock lock(&mu_);
        spare_ready_ = whole;
      }
      if (!whole) {
        if (absl::Status s = io_->Unlink(path); !s.ok()) return s;
      }
      continue;
    }
    if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
      // A segment or spare whose creation did not finish.
      if (absl::Status s = io_->Unlink(path); !s.ok()) return s;
      continue;
    }
    unsigned long long seq = 0;
    char tail = 0;
    if (name.size() == 20 && std::sscanf(name.c_str(), "%16llx.se%c", &seq, &tail) == 2 &&
        tail == 'g' && seq > 0 && seq <= UINT32_MAX) {
      seqs.push_back(static_cast<uint32_t>(seq));
    }
  }
  std::sort(seqs.begin(), seqs.end());

  for (size_t i = 0; i < seqs.size(); ++i) {
    if (i > 0 && seqs[i] != seqs[i - 1] + 1) {
      return absl::DataLossError(absl::StrFormat("log segment %016x follows %016x: segments missing",
                                                 seqs[i], seqs[i - 1]));
    }
    auto segment = std::make_shared<Segment>();
    segment->seq = seqs[i];
    absl::StatusOr<std::unique_ptr<File>> file =
        io_->Open(SegmentPath(seqs[i]), FileIO::OpenMode::kExisting);
    if (!file.ok()) return file.status();
    segment->file = *std::move(file);
    absl::StatusOr<uint64_t> size = segment->file->Size();
    if (!size.ok()) return size.status();
    segment->capacity = *size;
    if (absl::Status s = LoadSegment(segment, i + 1 == seqs.size(), visit); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    segments_[segment->seq] = segment;
  }
  return absl::OkStatus();
}

absl::Status LogSegments::CheckTorn(const std::string& path, const std::string& bytes,
                                    uint64_t at, bool header_ok, const std::string& why) const {
  const auto all_zero = [&](uint64_t from) {
    return from >= bytes.size() ||
           bytes.find_first_not_of('\0', static_cast<size_t>(from)) == std::string::npos;
  };
  const auto refuse = [&](const char* because) {
    return absl::DataLossError(absl::StrCat(path, ": damaged log batch at offset ", at, ": ", why,
                                            "; ", because));
  };
  if (!header_ok) {
    if (all_zero(at + kBatchHeaderBytes)) return absl::OkStatus();
    return refuse("data follows it, so it is not a torn final write");
  }
  const uint64_t end = at + kBatchHeaderBytes + GetLe32(bytes.data() + at) + kBatchEndBytes;
  const std::string_view mark(bytes.data() + end - kBatchEndBytes, kBatchEndBytes);
  if (mark.find('\0') == std::string_view::npos) {
    return refuse("it was written whole, so it is not a torn final write");
  }
  if (!all_zero(end)) return refuse("data follows it, so it is not a torn final write");
  return absl::OkStatus();
}

absl::Status LogSegments::LoadSegment(const std::shared_ptr<Segment>& segment, bool last,
                                      const Visitor& visit) {
  const std::string path = SegmentPath(segment->seq);
  std::string bytes(segment->capacity, '\0');
  if (absl::Status s = segment->file->PRead(0, bytes.size(), bytes.data()); !s.ok()) return s;
  const auto all_zero = [&](uint64_t from) {
    return from >= bytes.size() ||
           bytes.find_first_not_of('\0', static_cast<size_t>(from)) == std::string::npos;
  };

  char expect[kHeaderBytes];
  SegmentHeader(segment->seq, expect);
  uint64_t end = 0;  // where the next batch would go; 0 = header not written
  bool cut = false;  // a torn final write is cut off at `end`
  if (bytes.size() >= kHeaderBytes && std::memcmp(bytes.data(), expect, kHeaderBytes) == 0) {
    end = kHeaderBytes;
  } else if (all_zero(0)) {
    // Never written (its header goes out with its first batch). Before the
    // last segment it is one that a batch too large for it skipped (Rotate
    // after a restart found it empty); it held nothing, and the segments
    // after it start with all the metadata.
  } else if (last && all_zero(kHeaderBytes)) {
    // The segment header goes out with the segment's first batch: neither
    // reached the disk whole, so it was never acknowledged.
    cut = true;
  } else if (bytes.size() >= kHeaderBytes && std::memcmp(bytes.data(), kMagic, 8) == 0 &&
             GetLe32(bytes.data() + 8) == segment->seq) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": log format version ", GetLe32(bytes.data() + 12),
                     "; this binary reads version ", kLogFormatVersion));
  } else {
    return absl::DataLossError(absl::StrCat(path, ": not a log segment (bad header)"));
  }

  // Batches: checked whole, then visited.
  std::vector<std::pair<RecordType, RecordLocation>> records;
  while (end != 0 && !cut && end + kBatchHeaderBytes <= bytes.size()) {
    const char* head = bytes.data() + end;
    const uint32_t size = GetLe32(head);
    const uint32_t crc = GetLe32(head + 4);
    if (size == 0 && crc == 0) {
      if (all_zero(end)) break;  // the end of the log
      if (!last) {
        return absl::DataLossError(
            absl::StrCat(path, ": data after the end of the log at offset ", end));
      }
      if (absl::Status s = CheckTorn(path, bytes, end, false, "zero header"); !s.ok()) return s;
      cut = true;
      break;
    }
    const uint64_t batch_end = end + kBatchHeaderBytes + uint64_t{size} + kBatchEndBytes;
    std::string why;
    const bool header_ok = batch_end <= bytes.size() && BatchCrc(segment->seq, end, size) == crc;
    if (!header_ok) {
      why = "batch header does not verify";
    } else {
      records.clear();
      uint64_t at = end + kBatchHeaderBytes;
      const uint64_t records_end = batch_end - kBatchEndBytes;
      while (at < records_end) {
        const char* p = bytes.data() + at;
        const uint32_t body = at + kRecordHeaderBytes <= records_end ? GetLe32(p) : 0;
        if (at + kRecordHeaderBytes + body > records_end || !KnownType(static_cast<uint8_t>(p[8])) ||
            RecordCrc(segment->seq, at, p + 8, body + 1) != GetLe32(p + 4)) {
          why = absl::StrCat("record at offset ", at, " does not verify (checksum mismatch)");
          break;
        }
        records.push_back({static_cast<RecordType>(p[8]),
                           RecordLocation{segment->seq, static_cast<uint32_t>(at), body}});
        at += kRecordHeaderBytes + body;
      }
      if (why.empty() && std::memcmp(bytes.data() + batch_end - kBatchEndBytes, kBatchEnd,
                                     kBatchEndBytes) != 0) {
        why = "batch end mark missing";
      }
    }
    if (!why.empty()) {
      if (!last) {
        return absl::DataLossError(absl::StrCat(path, ": damaged log batch at offset ", end, ": ",
                                                why, " (not the last segment)"));
      }
      if (absl::Status s = CheckTorn(path, bytes, end, header_ok, why); !s.ok()) return s;
      cut = true;
      break;
    }
    for (const auto& [type, at] : records) {
      const std::string_view body(bytes.data() + at.offset + kRecordHeaderBytes, at.size);
      if (absl::Status s = visit(type, body, at); !s.ok()) return s;
    }
    end = batch_end;
  }
  if (!cut && !all_zero(end == 0 ? kHeaderBytes : end)) {
    return absl::DataLossError(absl::StrCat(path, ": data after the end of the log at offset ",
                                            end == 0 ? kHeaderBytes : end));
  }
  if (!last) return absl::OkStatus();

  if (cut) {
    // A torn final write: never acknowledged. Zero its remains so that no
    // old bytes can follow the batches written next.
    std::fprintf(stderr,
                 "LogStore: %s: discarding a torn final write at offset %llu (crash during a "
                 "write)\n",
                 path.c_str(), static_cast<unsigned long long>(end));
    absl::Status s = WriteZeros(segment->file.get(), end, bytes.size());
    if (s.ok()) s = segment->file->DataSync();
    if (!s.ok()) return s;
  }
  current_ = segment;
  write_offset_ = end;
  return absl::OkStatus();
}

bool LogSegments::Fits(size_t bytes) const {
  if (!current_) return false;
  const uint64_t at = write_offset_ == 0 ? kHeaderBytes : write_offset_;
  return at + bytes <= current_->capacity;
}

void LogSegments::Rotate(size_t bytes) {
  if (current_ && dirty_) CheckOk(current_->file->DataSync());
  dirty_ = false;
  const uint32_t seq = current_ ? current_->seq + 1 : 1;
  const std::string path = SegmentPath(seq);
  const uint64_t need = kHeaderBytes + bytes;
  bool took_spare = false;
  {
    absl::MutexLock lock(&mu_);
    if (spare_ready_ && options_.segment_bytes >= need) {
      CheckOk(io_->Rename(options_.dir + "/" + kSpareName, path));
      spare_ready_ = false;
      took_spare = true;
    }
  }
  if (!took_spare) {
    // No spare yet (or the batch is larger than a segment): make one now.
    const std::string temp = path + ".tmp";
    CheckOk(CreateZeroed(temp, std::max<uint64_t>(options_.segment_bytes, need)));
    CheckOk(io_->Rename(temp, path));
  }
  CheckOk(io_->SyncDir(options_.dir));

  auto segment = std::make_shared<Segment>();
  segment->seq = seq;
  absl::StatusOr<std::unique_ptr<File>> file = io_->Open(path, FileIO::OpenMode::kExisting);
  CheckOk(file.status());
  segment->file = *std::move(file);
  absl::StatusOr<uint64_t> size = segment->file->Size();
  CheckOk(size.status());
  segment->capacity = *size;
  current_ = segment;
  write_offset_ = 0;
  {
    absl::MutexLock lock(&mu_);
    segments_[seq] = segment;
    want_spare_ = options_.background_spare;
  }
  if (!options_.background_spare) {
    // Not fatal: the next rotation makes the segment itself.
    if (absl::Status s = PrepareSpare(); !s.ok()) {
      std::fprintf(stderr, "LogStore: cannot prepare the next log segment: %s\n",
                   s.ToString().c_str());
    }
  }
}

RecordLocation LogSegments::Write(RecordBatch* batch, bool sync) {
  if (!Fits(batch->bytes())) Fatal("write: batch does not fit the current segment");
  const uint32_t seq = current_->seq;
  const bool first = write_offset_ == 0;
  const uint64_t base = first ? kHeaderBytes : write_offset_;
  std::string& bytes = batch->bytes_;
  char* head = bytes.data() + kHeaderBytes;  // the batch header
  for (size_t start : batch->starts_) {
    char* p = head + start;
    const uint32_t size = GetLe32(p);
    PutLe32(p + 4, RecordCrc(seq, base + start, p + 8, size + 1));
  }
  const auto records = static_cast<uint32_t>(bytes.size() - kHeaderBytes - kBatchHeaderBytes);
  PutLe32(head, records);
  PutLe32(head + 4, BatchCrc(seq, base, records));
  bytes.append(kBatchEnd, kBatchEndBytes);
  // The segment header, when this is the segment's first batch, goes out in
  // the same write: a segment never has a header without a batch.
  if (first) SegmentHeader(seq, bytes.data());
  const size_t skip = first ? 0 : kHeaderBytes;
  const std::string_view out(bytes.data() + skip, bytes.size() - skip);
  CheckOk(current_->file->PWrite(base - (kHeaderBytes - skip), out));
  bytes.resize(bytes.size() - kBatchEndBytes);
  if (sync) {
    CheckOk(current_->file->DataSync());
    dirty_ = false;
  } else {
    dirty_ = true;
  }
  write_offset_ = base + records + kBatchHeaderBytes + kBatchEndBytes;
  return RecordLocation{seq, static_cast<uint32_t>(base), 0};
}

void LogSegments::DeleteBefore(uint32_t segment) {
  std::vector<uint32_t> doomed;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = segments_.begin(); it != segments_.end() && it->first < segment;) {
      if (it->second == current_) break;
      doomed.push_back(it->first);
      it = segments_.erase(it);  // readers holding it keep its file open
    }
  }
  if (doomed.empty()) return;
  // Oldest first: a crash part way leaves a contiguous run of segments.
  for (uint32_t seq : doomed) {
    const absl::Status s = io_->Unlink(SegmentPath(seq));
    if (!s.ok() && !absl::IsNotFound(s)) Fatal(std::string(s.message()));
  }
  CheckOk(io_->SyncDir(options_.dir));
}

absl::StatusOr<std::string> LogSegments::Read(const RecordLocation& at, RecordType expect) const {
  std::shared_ptr<Segment> segment;
  {
    absl::MutexLock lock(&mu_);
    auto it = segments_.find(at.segment);
    if (it == segments_.end()) {
      return absl::NotFoundError(absl::StrFormat("log segment %016x is gone", at.segment));
    }
    segment = it->second;
  }
  std::string record(kRecordHeaderBytes + at.size, '\0');
  if (absl::Status s = segment->file->PRead(at.offset, record.size(), record.data()); !s.ok()) {
    return s;
  }
  const char* p = record.data();
  if (GetLe32(p) != at.size || static_cast<uint8_t>(p[8]) != static_cast<uint8_t>(expect) ||
      RecordCrc(at.segment, at.offset, p + 8, at.size + 1) != GetLe32(p + 4)) {
    return absl::DataLossError(absl::StrFormat("log segment %016x: record at offset %u does not verify",
                                               at.segment, at.offset));
  }
  record.erase(0, kRecordHeaderBytes);
  return record;
}

size_t LogSegments::segment_count() const {
  absl::MutexLock lock(&mu_);
  return segments_.size();
}

absl::Status LogSegments::PrepareSpare() {
  const std::string temp = options_.dir + "/" + kSpareTemp;
  absl::Status s = CreateZeroed(temp, options_.segment_bytes);
  if (s.ok()) s = io_->Rename(temp, options_.dir + "/" + kSpareName);
  if (s.ok()) s = io_->SyncDir(options_.dir);
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  spare_ready_ = true;
  return absl::OkStatus();
}

void LogSegments::SpareLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &LogSegments::SpareWanted));
      if (stopping_) return;
      want_spare_ = false;
    }
    if (absl::Status s = PrepareSpare(); !s.ok()) {
      // The writer makes the segment itself at rotation (and stops the
      // replica if it cannot).
      std::fprintf(stderr, "LogStore: cannot prepare the next log segment: %s\n",
                   s.ToString().c_str());
    }
  }
}

}  // namespace synod::storage
