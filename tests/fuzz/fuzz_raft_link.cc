// Fuzz target: the Raft link's receiving side (server/raft_link.h): the
// hello and answer decoders, and ReadLinkFrames over a real socket, which
// splits a peer's byte stream into frames, parses each RaftBatch and checks
// it against the link's hello. A peer (or anything that reaches the peer
// port) controls every byte.
//
// Input: u16 chunk size (1 + n % 4096 bytes per send), then the byte
// stream. The stream is sent in chunks over a socketpair, ReadLinkFrames
// draining the socket after each, as a replica's raft thread does; then the
// sender closes. Promises checked beyond "no crash": the reader hands out
// exactly the messages of the whole frames a plain reading of the stream
// finds before the first oversized, unreadable or foreign batch; every
// message it hands out is for this member and from the hello's sender (or a
// forwarded request); a refused link says why; the hello and answer
// decoders round-trip.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "raft/types.h"
#include "server/raft_link.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/quiet_protobuf.h"

namespace synod::fuzz {
namespace {

constexpr size_t kMaxFrameBytes = 64u << 10;
const server::LinkHello kLink{/*cluster_id=*/7, /*from=*/2, /*to=*/1};

// The number of messages a plain reading of `stream` delivers, and whether
// it ends the link (a frame over the limit, unreadable, or foreign).
struct Expected {
  size_t messages = 0;
  bool ends = false;
};

Expected ReadPlainly(std::string_view stream) {
  Expected out;
  while (stream.size() >= server::kLinkFrameHeaderBytes) {
    const uint64_t size = ByteReader(stream).U32();
    if (size > kMaxFrameBytes) {
      out.ends = true;
      return out;
    }
    if (stream.size() < server::kLinkFrameHeaderBytes + size) break;
    v1::RaftBatch batch;
    if (!batch.ParseFromArray(stream.data() + server::kLinkFrameHeaderBytes,
                              static_cast<int>(size)) ||
        !server::CheckLinkBatch(batch, kLink).ok()) {
      out.ends = true;
      return out;
    }
    out.messages += static_cast<size_t>(batch.messages_size());
    stream.remove_prefix(server::kLinkFrameHeaderBytes + size);
  }
  return out;
}

void CheckDecoders(std::string_view stream) {
  server::LinkHello hello;
  if (server::DecodeLinkHello(stream, &hello)) {
    Require(server::EncodeLinkHello(hello) == stream.substr(0, server::kLinkHelloBytes),
            "the link hello does not round-trip");
  }
  server::LinkAnswer answer;
  if (server::DecodeLinkAnswer(stream, &answer)) {
    Require(server::EncodeLinkAnswer(answer) == stream.substr(0, server::kLinkAnswerBytes),
            "the link answer does not round-trip");
    Require(server::LinkAnswerName(answer) != std::string("unknown"), "answer without a name");
  }
}

}  // namespace
}  // namespace synod::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synod;
  using namespace synod::fuzz;
  ByteReader in(data, size);
  const size_t chunk = 1 + in.U16() % 4096;
  const std::string_view stream = in.Rest();
  CheckDecoders(stream);

  int fds[2];
  Require(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0,
          "socketpair");
  server::LinkFrameReader reader(kMaxFrameBytes, kLink);
  v1::RaftBatch scratch;
  std::vector<raft::Message> messages;
  std::string why;
  bool open = true;
  for (size_t at = 0; open && at < stream.size(); at += chunk) {
    const std::string_view piece = stream.substr(at, chunk);
    // A chunk is far below the socket buffer, which the reader drains.
    Require(::send(fds[1], piece.data(), piece.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(piece.size()),
            "send to the socketpair");
    open = server::ReadLinkFrames(fds[0], /*drain=*/true, &reader, &scratch, &messages, &why);
  }
  ::close(fds[1]);
  if (open) {
    open = server::ReadLinkFrames(fds[0], /*drain=*/true, &reader, &scratch, &messages, &why);
    Require(!open, "the link stays open after the sender closed");
  }
  ::close(fds[0]);

  const Expected expected = ReadPlainly(stream);
  Require(messages.size() == expected.messages, "the reader delivers other messages",
          absl::StrCat(messages.size(), " delivered, ", expected.messages, " expected"));
  Require(expected.ends == !why.empty(), "the reader ends the link for another reason",
          why.empty() ? "(orderly end)" : why);
  if (reader.refused()) Require(!why.empty(), "a refused link does not say why");
  for (const raft::Message& m : messages) {
    Require(m.to() == kLink.to, "a message for another member was delivered");
    Require(m.from() == kLink.from || raft::IsForwardedRequest(m.type()),
            "a message from another member was delivered");
  }
  return 0;
}
