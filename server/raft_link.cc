#include "server/raft_link.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace synod::server {
namespace {

void PutU64(uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

std::string EncodeLinkHello(const LinkHello& hello) {
  std::string out(kLinkHelloBytes, '\0');
  std::memcpy(out.data(), kLinkMagic.data(), kLinkMagic.size());
  PutU64(hello.cluster_id, out.data() + 8);
  PutU64(hello.from, out.data() + 16);
  PutU64(hello.to, out.data() + 24);
  return out;
}

bool DecodeLinkHello(std::string_view bytes, LinkHello* hello) {
  if (bytes.size() < kLinkHelloBytes || bytes.substr(0, kLinkMagic.size()) != kLinkMagic) {
    return false;
  }
  hello->cluster_id = GetU64(bytes.data() + 8);
  hello->from = GetU64(bytes.data() + 16);
  hello->to = GetU64(bytes.data() + 24);
  return true;
}

std::string EncodeLinkAnswer(LinkAnswer answer) {
  std::string out(kLinkAnswerMagic);
  out.push_back(static_cast<char>(answer));
  return out;
}

bool DecodeLinkAnswer(std::string_view bytes, LinkAnswer* answer) {
  if (bytes.size() < kLinkAnswerBytes ||
      bytes.substr(0, kLinkAnswerMagic.size()) != kLinkAnswerMagic) {
    return false;
  }
  const auto code = static_cast<uint8_t>(bytes[kLinkAnswerMagic.size()]);
  if (code > static_cast<uint8_t>(LinkAnswer::kNotMe)) return false;
  *answer = static_cast<LinkAnswer>(code);
  return true;
}

const char* LinkAnswerName(LinkAnswer answer) {
  switch (answer) {
    case LinkAnswer::kAccepted:
      return "accepted";
    case LinkAnswer::kOtherCluster:
      return "the receiver belongs to another cluster";
    case LinkAnswer::kNotMe:
      return "the receiver is another member";
  }
  return "unknown";
}

void AppendLinkFrame(const v1::RaftBatch& batch, std::string* out) {
  const size_t size = batch.ByteSizeLong();
  const size_t at = out->size();
  out->resize(at + kLinkFrameHeaderBytes + size);
  char* p = out->data() + at;
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((size >> (8 * i)) & 0xff);
  batch.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p + kLinkFrameHeaderBytes));
}

absl::Status CheckLinkBatch(const v1::RaftBatch& batch, const LinkHello& link) {
  if (batch.cluster_id() != link.cluster_id) {
    return absl::FailedPreconditionError(absl::StrCat("a batch of cluster ", batch.cluster_id(),
                                                      " on a link of cluster ", link.cluster_id));
  }
  if (batch.from() != link.from) {
    return absl::PermissionDeniedError(
        absl::StrCat("a batch from member ", batch.from(), " on the link of member ", link.from));
  }
  for (const raft::Message& m : batch.messages()) {
    if (m.from() != link.from && !raft::IsForwardedRequest(m.type())) {
      return absl::PermissionDeniedError(
          absl::StrCat("a message from member ", m.from(), " on the link of member ", link.from));
    }
    if (m.to() != link.to) {
      return absl::InvalidArgumentError(
          absl::StrCat("a message for member ", m.to(), " on a link to member ", link.to));
    }
  }
  return absl::OkStatus();
}

LinkFrameReader::LinkFrameReader(size_t max_frame_bytes, const LinkHello& link,
                                 std::unique_ptr<LinkTlsSession> tls)
    : max_frame_bytes_(max_frame_bytes), link_(link), tls_(std::move(tls)) {}

LinkFrameReader::~LinkFrameReader() = default;

char* LinkFrameReader::Reserve(size_t min, size_t* room) {
  if (start_ > 0 && (start_ == end_ || buf_.size() - end_ < min)) {
    // Move the unread part to the front before growing.
    std::memmove(buf_.data(), buf_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (buf_.size() - end_ < min) buf_.resize(end_ + min);
  *room = buf_.size() - end_;
  return buf_.data() + end_;
}

LinkFrameReader::Result LinkFrameReader::Next(std::string_view* frame) {
  const size_t have = end_ - start_;
  if (have < kLinkFrameHeaderBytes) return Result::kNeedMore;
  const char* p = buf_.data() + start_;
  size_t size = 0;
  for (int i = 3; i >= 0; --i) size = (size << 8) | static_cast<unsigned char>(p[i]);
  if (size > max_frame_bytes_) {
    refused_ = size;
    return Result::kTooLarge;
  }
  if (have < kLinkFrameHeaderBytes + size) return Result::kNeedMore;
  *frame = std::string_view(p + kLinkFrameHeaderBytes, size);
  start_ += kLinkFrameHeaderBytes + size;
  return Result::kFrame;
}

bool ReadLinkFrames(int fd, bool drain, LinkFrameReader* reader, v1::RaftBatch* scratch,
                    std::vector<raft::Message>* out, std::string* why) {
  // recv size: many small batches per call under load.
  constexpr size_t kReadChunk = 256u << 10;
  while (true) {
    size_t room = 0;
    char* at = reader->Reserve(kReadChunk, &room);
    ssize_t n = 0;
    if (reader->tls_ != nullptr) {
      n = reader->tls_->Read(at, room);
      if (n == 0) return true;  // drained
      if (n < 0) return false;  // closed, or a TLS failure
    } else {
      n = ::recv(fd, at, room, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;  // drained
      if (n <= 0) return false;  // the sender closed, the link broke, or shutdown
    }
    reader->Commit(static_cast<size_t>(n));
    std::string_view frame;
    while (true) {
      const LinkFrameReader::Result r = reader->Next(&frame);
      if (r == LinkFrameReader::Result::kNeedMore) break;
      if (r == LinkFrameReader::Result::kTooLarge) {
        *why = absl::StrCat("frame of ", reader->refused_length(), " bytes over the limit");
        return false;
      }
      if (!scratch->ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
        *why = "unreadable batch";
        return false;
      }
      if (absl::Status s = CheckLinkBatch(*scratch, reader->link()); !s.ok()) {
        reader->refused_link_ = true;
        *why = std::string(s.message());
        return false;
      }
      for (raft::Message& m : *scratch->mutable_messages()) out->push_back(std::move(m));
    }
    if (!drain) return true;
  }
}

}  // namespace synod::server
