// The Raft link: the wire format replicas use to send each other Raft
// messages over plain TCP, on the same port as the Peer gRPC service.
//
// Why not a gRPC stream: every message there would go through HTTP/2
// framing, flow-control window updates and a callback on a gRPC thread,
// which cost more CPU and latency than the messages themselves (see
// bench/README.md). The link is a byte stream with a length per batch.
//
//   sender   -> hello:  "SYNODRL1", cluster id, sender id, receiver id
//                        (each a little-endian u64; 32 bytes)
//   receiver -> answer: "SYNODLA" and one code byte (8 bytes), then never
//                        writes again; on a refusal it closes.
//   sender   -> frames: a little-endian u32 length, then that many bytes
//                        of a serialized v1::RaftBatch; forever.
//
// The hello names the link's two ends once; every batch must agree with it
// (CheckLinkBatch): a batch from another cluster or sender, or with a
// message for another member, ends the link. Raft recovers what the closed
// link carried (dissertation §3.5: lost messages are resent).
//
// The first bytes tell the two protocols on the peer port apart: an HTTP/2
// client starts with "PRI * HTTP/2.0". With TLS on the peer port, the
// sender first sends link_tls.h's preamble and runs the handshake; then the
// same hello, answer and frames travel inside TLS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "raft/types.h"
#include "server/link_tls.h"
#include "synod/v1/peer.pb.h"

namespace synod::server {

inline constexpr std::string_view kLinkMagic = "SYNODRL1";
inline constexpr size_t kLinkHelloBytes = 32;
inline constexpr std::string_view kLinkAnswerMagic = "SYNODLA";
inline constexpr size_t kLinkAnswerBytes = 8;
inline constexpr size_t kLinkFrameHeaderBytes = 4;

struct LinkHello {
  uint64_t cluster_id = 0;
  raft::NodeId from = raft::kNoNode;
  raft::NodeId to = raft::kNoNode;
};

enum class LinkAnswer : uint8_t {
  kAccepted = 0,
  kOtherCluster = 1,  // the receiver belongs to another cluster
  kNotMe = 2,         // the receiver is not the member the sender meant
};

std::string EncodeLinkHello(const LinkHello& hello);
// False when `bytes` (kLinkHelloBytes) does not start with kLinkMagic.
bool DecodeLinkHello(std::string_view bytes, LinkHello* hello);

std::string EncodeLinkAnswer(LinkAnswer answer);
// False when `bytes` (kLinkAnswerBytes) is not an answer this version knows.
bool DecodeLinkAnswer(std::string_view bytes, LinkAnswer* answer);
const char* LinkAnswerName(LinkAnswer answer);

// Appends one frame holding `batch` to `out`.
void AppendLinkFrame(const v1::RaftBatch& batch, std::string* out);

// Checks a batch received on the link that `link` (its accepted hello)
// opened: the batch's cluster id and sender, and every message's sender and
// receiver, must be the hello's. One exception: a request the sender passes
// on to the leader names its originator in `from` (raft::IsForwardedRequest:
// proposals, reads, transfers); the driver and the core check those.
// Errors: FailedPrecondition (another cluster), PermissionDenied (another
// sender), InvalidArgument (a message for another member).
absl::Status CheckLinkBatch(const v1::RaftBatch& batch, const LinkHello& link);

// Splits the byte stream of one link into frames. Feed it what recv
// returned; Next yields whole frames in order. It keeps the link's accepted
// hello, against which ReadLinkFrames checks every batch.
//
// Thread: the one thread that reads the link.
class LinkFrameReader {
 public:
  // `tls`: the link's TLS session (link_tls.h); null: plaintext.
  LinkFrameReader(size_t max_frame_bytes, const LinkHello& link,
                  std::unique_ptr<LinkTlsSession> tls = nullptr);
  ~LinkFrameReader();
  LinkFrameReader(const LinkFrameReader&) = delete;
  LinkFrameReader& operator=(const LinkFrameReader&) = delete;
  const LinkHello& link() const { return link_; }
  // True once a batch broke the link's hello (CheckLinkBatch): the link is
  // refused, not merely ended.
  bool refused() const { return refused_link_; }
  // True when the link's TLS session holds bytes read off the socket but
  // not yet read from it (LinkTlsSession::Buffered): read before waiting
  // for the socket to become readable.
  bool buffered() const { return tls_ != nullptr && tls_->Buffered(); }
  // Room for at least `min` more bytes; returns where to write them.
  char* Reserve(size_t min, size_t* room);
  void Commit(size_t n) { end_ += n; }
  enum class Result { kFrame, kNeedMore, kTooLarge };
  // On kFrame, `frame` views the payload until the next call.
  Result Next(std::string_view* frame);
  // The length that kTooLarge refused.
  size_t refused_length() const { return refused_; }

 private:
  friend bool ReadLinkFrames(int, bool, LinkFrameReader*, v1::RaftBatch*,
                             std::vector<raft::Message>*, std::string*);

  const size_t max_frame_bytes_;
  const LinkHello link_;
  std::unique_ptr<LinkTlsSession> tls_;  // null: plaintext
  bool refused_link_ = false;
  std::string buf_;
  size_t start_ = 0;
  size_t end_ = 0;
  size_t refused_ = 0;
};

// Reads what the link socket `fd` holds into `reader` (`drain` false, a
// blocking socket: one recv; true, a non-blocking one: until it would
// block; a TLS link must be non-blocking and drained, so that nothing stays
// decrypted but unread) and appends the messages of every whole frame to `out`. False when
// the link ended: end of stream, an error, an oversized or unreadable frame,
// or a batch that breaks the link's hello (then reader->refused(); none of
// that batch's messages is appended). `why` says which; empty for an
// orderly end or an error of the socket.
bool ReadLinkFrames(int fd, bool drain, LinkFrameReader* reader, v1::RaftBatch* scratch,
                    std::vector<raft::Message>* out, std::string* why);

}  // namespace synod::server
