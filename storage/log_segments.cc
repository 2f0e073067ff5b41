#include "storage/log_segments.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage/crc32c.h"

namespace synod::storage {
namespace {

constexpr char kMagic[8] = {'S', 'Y', 'N', 'O', 'D', 'L', 'O', 'G'};
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
uint32_t RecordCrc(uint32_t segment, uint32_t offset, const char* type_and_body, size_t n) {
  char place[8];
  PutLe32(place, segment);
  PutLe32(place + 4, offset);
  return Crc32cExtend(Crc32cExtend(0, place, sizeof(place)), type_and_body, n);
}

bool KnownType(uint8_t t) { return t >= 1 && t <= 4; }

std::string Errno(const std::string& what) {
  return absl::StrCat(what, ": ", std::strerror(errno));
}

[[noreturn]] void Fatal(const std::string& what) {
  std::fprintf(stderr, "FATAL: LogStore: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

bool PwriteAll(int fd, const char* p, size_t n, uint64_t offset) {
  while (n > 0) {
    const ssize_t w = pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return true;
}

bool PreadAll(int fd, char* p, size_t n, uint64_t offset) {
  while (n > 0) {
    const ssize_t r = pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

absl::Status SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(Errno("open " + dir));
  const int rc = fsync(fd);
  const int saved = errno;
  close(fd);
  errno = saved;
  if (rc != 0) return absl::InternalError(Errno("fsync " + dir));
  return absl::OkStatus();
}

// Writes zeros over [from, to) of `fd`, each chunk out to the disk before
// the next (not yet durable: the caller syncs). A segment is 16 MiB by
// default: left to one fdatasync at the end, all of it would enter the
// disk's queue at once, and the fdatasync of a Ready issued meanwhile would
// wait behind it (tens of ms of write latency every few seconds under load).
bool WriteZeros(int fd, uint64_t from, uint64_t to) {
  static const std::string zeros(kZeroChunk, '\0');
  while (from < to) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, to - from));
    if (!PwriteAll(fd, zeros.data(), n, from)) return false;
    // Only pacing: the caller's fdatasync is what makes it durable and
    // reports a failure, so a file system without this call loses nothing.
    (void)sync_file_range(fd, static_cast<off_t>(from), static_cast<off_t>(n),
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                              SYNC_FILE_RANGE_WAIT_AFTER);
    from += n;
  }
  return true;
}

// Creates `path` holding `bytes` zeros, synced. The blocks are really
// written (not fallocated), so later writes overwrite allocated blocks.
absl::Status CreateZeroed(const std::string& path, uint64_t bytes) {
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(Errno("create " + path));
  bool ok = WriteZeros(fd, 0, bytes) && fdatasync(fd) == 0;
  const int saved = errno;
  close(fd);
  if (!ok) {
    errno = saved;
    const absl::Status s = absl::InternalError(Errno("fill " + path));
    unlink(path.c_str());
    return s;
  }
  return absl::OkStatus();
}

}  // namespace

size_t RecordBatch::Add(RecordType type, const google::protobuf::MessageLite& body) {
  const size_t start = bytes_.size();
  const size_t size = body.ByteSizeLong();
  bytes_.resize(start + LogSegments::kRecordHeaderBytes + size);
  char* p = bytes_.data() + start;
  PutLe32(p, static_cast<uint32_t>(size));
  PutLe32(p + 4, 0);  // the CRC depends on where the batch lands: Write
  p[8] = static_cast<char>(type);
  body.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p + 9));
  starts_.push_back(start);
  return start;
}

LogSegments::Segment::~Segment() {
  if (fd >= 0) close(fd);
}

std::string LogSegments::SegmentPath(uint32_t seq) const {
  return absl::StrFormat("%s/%016x.seg", options_.dir, seq);
}

absl::StatusOr<std::unique_ptr<LogSegments>> LogSegments::Open(const Options& options,
                                                               const Visitor& visit) {
  if (options.dir.empty()) return absl::InvalidArgumentError("log directory not set");
  std::unique_ptr<LogSegments> segments(new LogSegments(options));
  if (absl::Status s = segments->Load(visit); !s.ok()) return s;
  {
    absl::MutexLock lock(&segments->mu_);
    segments->want_spare_ = !segments->spare_ready_;
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
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool existed = fs::exists(options_.dir, ec);
  fs::create_directories(options_.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", options_.dir, ": ", ec.message()));
  if (!existed) {
    const std::string parent = fs::path(options_.dir).parent_path().string();
    if (absl::Status s = SyncDir(parent.empty() ? "." : parent); !s.ok()) return s;
  }

  std::vector<uint32_t> seqs;
  for (const fs::directory_entry& entry : fs::directory_iterator(options_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == kSpareName) {
      spare_ready_ = entry.file_size(ec) == options_.segment_bytes;
      if (!spare_ready_) fs::remove(entry.path(), ec);
      continue;
    }
    if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
      fs::remove(entry.path(), ec);  // a segment or spare whose creation did not finish
      continue;
    }
    unsigned long long seq = 0;
    char tail = 0;
    if (name.size() == 20 && std::sscanf(name.c_str(), "%16llx.se%c", &seq, &tail) == 2 &&
        tail == 'g' && seq > 0 && seq <= UINT32_MAX) {
      seqs.push_back(static_cast<uint32_t>(seq));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("list ", options_.dir, ": ", ec.message()));
  std::sort(seqs.begin(), seqs.end());

  for (size_t i = 0; i < seqs.size(); ++i) {
    const std::string path = SegmentPath(seqs[i]);
    auto segment = std::make_shared<Segment>();
    segment->seq = seqs[i];
    segment->fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (segment->fd < 0) return absl::InternalError(Errno("open " + path));
    struct stat st;
    if (fstat(segment->fd, &st) != 0) return absl::InternalError(Errno("stat " + path));
    segment->capacity = static_cast<uint64_t>(st.st_size);
    if (i > 0 && seqs[i] != seqs[i - 1] + 1) {
      return absl::DataLossError(absl::StrFormat("log segment %016x follows %016x: segments missing",
                                                 seqs[i], seqs[i - 1]));
    }
    if (absl::Status s = LoadSegment(segment, i + 1 == seqs.size(), visit); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    segments_[segment->seq] = segment;
  }
  return absl::OkStatus();
}

absl::Status LogSegments::LoadSegment(const std::shared_ptr<Segment>& segment, bool last,
                                      const Visitor& visit) {
  const std::string path = SegmentPath(segment->seq);
  std::string bytes(segment->capacity, '\0');
  if (!PreadAll(segment->fd, bytes.data(), bytes.size(), 0)) {
    return absl::InternalError(Errno("read " + path));
  }
  const auto all_zero = [&](size_t from) {
    return bytes.find_first_not_of('\0', from) == std::string::npos;
  };

  uint64_t end = 0;  // where the next record would go; 0 = header not written
  if (bytes.size() >= kHeaderBytes && std::memcmp(bytes.data(), kMagic, 8) == 0) {
    if (GetLe32(bytes.data() + 8) != segment->seq || GetLe32(bytes.data() + 12) != 0) {
      return absl::DataLossError(absl::StrCat(path, ": header names another segment"));
    }
    end = kHeaderBytes;
    while (end + kRecordHeaderBytes <= bytes.size()) {
      const char* p = bytes.data() + end;
      const uint32_t size = GetLe32(p);
      const uint32_t crc = GetLe32(p + 4);
      const uint8_t type = static_cast<uint8_t>(p[8]);
      if (size == 0 && crc == 0 && type == 0) break;  // end of the records
      const bool fits = end + kRecordHeaderBytes + size <= bytes.size();
      if (!fits || !KnownType(type) ||
          RecordCrc(segment->seq, static_cast<uint32_t>(end), p + 8, size + 1) != crc) {
        if (!last) {
          return absl::DataLossError(
              absl::StrCat(path, ": invalid record at offset ", end, " (checksum mismatch)"));
        }
        break;  // an unfinished write at the tail of the log
      }
      RecordLocation at{segment->seq, static_cast<uint32_t>(end), size};
      if (absl::Status s = visit(static_cast<RecordType>(type),
                                 std::string_view(p + kRecordHeaderBytes, size), at);
          !s.ok()) {
        return s;
      }
      end += kRecordHeaderBytes + size;
    }
  } else if (!all_zero(0)) {
    return absl::DataLossError(absl::StrCat(path, ": not a log segment (bad header)"));
  } else if (!last) {
    return absl::DataLossError(absl::StrCat(path, ": empty segment before the last one"));
  }
  if (!last) return absl::OkStatus();

  if (!all_zero(end)) {
    // Remains of a write that did not complete: never acknowledged. Zero
    // them so that no old bytes can follow the records written next.
    std::fprintf(stderr,
                 "LogStore: %s: discarding an unfinished write after offset %llu (crash during a "
                 "write)\n",
                 path.c_str(), static_cast<unsigned long long>(end));
    if (!WriteZeros(segment->fd, end, bytes.size()) || fdatasync(segment->fd) != 0) {
      return absl::InternalError(Errno("zero the tail of " + path));
    }
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
  if (current_ && dirty_ && fdatasync(current_->fd) != 0) {
    Fatal(Errno("sync " + SegmentPath(current_->seq)));
  }
  dirty_ = false;
  const uint32_t seq = current_ ? current_->seq + 1 : 1;
  const std::string path = SegmentPath(seq);
  const uint64_t need = kHeaderBytes + bytes;
  bool took_spare = false;
  {
    absl::MutexLock lock(&mu_);
    if (spare_ready_ && options_.segment_bytes >= need) {
      if (rename((options_.dir + "/" + kSpareName).c_str(), path.c_str()) != 0) {
        Fatal(Errno("rename spare segment to " + path));
      }
      spare_ready_ = false;
      took_spare = true;
    }
  }
  if (!took_spare) {
    // No spare yet (or the batch is larger than a segment): make one now.
    const std::string temp = path + ".tmp";
    if (absl::Status s = CreateZeroed(temp, std::max<uint64_t>(options_.segment_bytes, need));
        !s.ok()) {
      Fatal(std::string(s.message()));
    }
    if (rename(temp.c_str(), path.c_str()) != 0) Fatal(Errno("rename " + temp));
  }
  if (absl::Status s = SyncDir(options_.dir); !s.ok()) Fatal(std::string(s.message()));

  auto segment = std::make_shared<Segment>();
  segment->seq = seq;
  segment->fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (segment->fd < 0) Fatal(Errno("open " + path));
  struct stat st;
  if (fstat(segment->fd, &st) != 0) Fatal(Errno("stat " + path));
  segment->capacity = static_cast<uint64_t>(st.st_size);
  current_ = segment;
  write_offset_ = 0;
  absl::MutexLock lock(&mu_);
  segments_[seq] = segment;
  want_spare_ = true;
}

RecordLocation LogSegments::Write(RecordBatch* batch, bool sync) {
  if (!Fits(batch->bytes())) Fatal("write: batch does not fit the current segment");
  const std::string path = current_ ? SegmentPath(current_->seq) : "";
  if (write_offset_ == 0) {
    char header[kHeaderBytes];
    std::memcpy(header, kMagic, 8);
    PutLe32(header + 8, current_->seq);
    PutLe32(header + 12, 0);
    if (!PwriteAll(current_->fd, header, sizeof(header), 0)) Fatal(Errno("write " + path));
    write_offset_ = kHeaderBytes;
  }
  const uint64_t base = write_offset_;
  char* bytes = batch->bytes_.data();
  for (size_t start : batch->starts_) {
    char* p = bytes + start;
    const uint32_t size = GetLe32(p);
    PutLe32(p + 4, RecordCrc(current_->seq, static_cast<uint32_t>(base + start), p + 8, size + 1));
  }
  if (!PwriteAll(current_->fd, bytes, batch->bytes_.size(), base)) Fatal(Errno("write " + path));
  if (sync) {
    if (fdatasync(current_->fd) != 0) Fatal(Errno("sync " + path));
    dirty_ = false;
  } else {
    dirty_ = true;
  }
  write_offset_ += batch->bytes_.size();
  return RecordLocation{current_->seq, static_cast<uint32_t>(base), 0};
}

void LogSegments::DeleteBefore(uint32_t segment) {
  std::vector<uint32_t> doomed;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = segments_.begin(); it != segments_.end() && it->first < segment;) {
      if (it->second == current_) break;
      doomed.push_back(it->first);
      it = segments_.erase(it);  // readers holding it keep its descriptor
    }
  }
  if (doomed.empty()) return;
  for (uint32_t seq : doomed) {
    const std::string path = SegmentPath(seq);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) Fatal(Errno("delete " + path));
  }
  if (absl::Status s = SyncDir(options_.dir); !s.ok()) Fatal(std::string(s.message()));
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
  if (!PreadAll(segment->fd, record.data(), record.size(), at.offset)) {
    return absl::InternalError(Errno("read " + SegmentPath(at.segment)));
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

void LogSegments::SpareLoop() {
  const std::string temp = options_.dir + "/" + kSpareTemp;
  const std::string spare = options_.dir + "/" + kSpareName;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &LogSegments::SpareWanted));
      if (stopping_) return;
      want_spare_ = false;
    }
    absl::Status s = CreateZeroed(temp, options_.segment_bytes);
    if (s.ok() && rename(temp.c_str(), spare.c_str()) != 0) s = absl::InternalError(Errno("rename"));
    if (s.ok()) s = SyncDir(options_.dir);
    if (!s.ok()) {
      // The writer makes the segment itself at rotation (and stops the
      // replica if it cannot).
      std::fprintf(stderr, "LogStore: cannot prepare the next log segment: %s\n",
                   s.ToString().c_str());
      continue;
    }
    absl::MutexLock lock(&mu_);
    spare_ready_ = true;
  }
}

}  // namespace synod::storage
