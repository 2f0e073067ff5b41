#include "server/raft_link.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace synod::server {
namespace {

v1::RaftBatch Batch(uint64_t first_index, int count) {
  v1::RaftBatch batch;
  batch.set_cluster_id(7);
  batch.set_from(1);
  for (int i = 0; i < count; ++i) {
    raft::Message* m = batch.add_messages();
    m->set_type(raft::MessageType::MSG_APP);
    m->set_from(1);
    m->set_to(2);
    m->set_index(first_index + i);
  }
  return batch;
}

// The hello of the link Batch's frames travel on: cluster 7, member 1 to 2.
constexpr LinkHello kLink{7, 1, 2};

// Feeds `bytes` to `reader` `step` bytes at a time and returns the batches.
std::vector<v1::RaftBatch> ReadAll(LinkFrameReader* reader, const std::string& bytes,
                                   size_t step) {
  std::vector<v1::RaftBatch> out;
  for (size_t at = 0; at < bytes.size(); at += step) {
    const size_t n = std::min(step, bytes.size() - at);
    size_t room = 0;
    char* p = reader->Reserve(n, &room);
    EXPECT_GE(room, n);
    std::memcpy(p, bytes.data() + at, n);
    reader->Commit(n);
    std::string_view frame;
    while (reader->Next(&frame) == LinkFrameReader::Result::kFrame) {
      v1::RaftBatch b;
      EXPECT_TRUE(b.ParseFromArray(frame.data(), static_cast<int>(frame.size())));
      out.push_back(b);
    }
  }
  return out;
}

TEST(RaftLinkTest, HelloRoundTrips) {
  LinkHello hello{0x0102030405060708ull, 3, 0xffffffffffffffffull};
  const std::string bytes = EncodeLinkHello(hello);
  ASSERT_EQ(bytes.size(), kLinkHelloBytes);
  LinkHello got;
  ASSERT_TRUE(DecodeLinkHello(bytes, &got));
  EXPECT_EQ(got.cluster_id, hello.cluster_id);
  EXPECT_EQ(got.from, 3u);
  EXPECT_EQ(got.to, hello.to);
  // An HTTP/2 preface is no hello.
  EXPECT_FALSE(DecodeLinkHello("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n0123456789abcdef", &got));
  EXPECT_FALSE(DecodeLinkHello(bytes.substr(0, 20), &got));
}

TEST(RaftLinkTest, AnswersRoundTripAndUnknownOnesAreRefused) {
  for (LinkAnswer a : {LinkAnswer::kAccepted, LinkAnswer::kOtherCluster, LinkAnswer::kNotMe}) {
    const std::string bytes = EncodeLinkAnswer(a);
    ASSERT_EQ(bytes.size(), kLinkAnswerBytes);
    LinkAnswer got = LinkAnswer::kAccepted;
    ASSERT_TRUE(DecodeLinkAnswer(bytes, &got));
    EXPECT_EQ(got, a);
  }
  std::string unknown = EncodeLinkAnswer(LinkAnswer::kAccepted);
  unknown.back() = 9;
  LinkAnswer got;
  EXPECT_FALSE(DecodeLinkAnswer(unknown, &got));
  // An HTTP/2 SETTINGS frame is no answer.
  const std::string settings("\x00\x00\x06\x04\x00\x00\x00\x00", 8);
  EXPECT_FALSE(DecodeLinkAnswer(settings, &got));
}

TEST(RaftLinkTest, FramesSurviveAnySplitOfTheStream) {
  std::string stream;
  AppendLinkFrame(Batch(1, 3), &stream);
  AppendLinkFrame(Batch(10, 0), &stream);  // empty batch: a frame of its own
  AppendLinkFrame(Batch(20, 200), &stream);
  for (size_t step : {size_t{1}, size_t{3}, size_t{7}, size_t{4096}}) {
    LinkFrameReader reader(1 << 20, kLink);
    std::vector<v1::RaftBatch> got = ReadAll(&reader, stream, step);
    ASSERT_EQ(got.size(), 3u) << "step " << step;
    ASSERT_EQ(got[0].messages_size(), 3);
    EXPECT_EQ(got[0].messages(2).index(), 3u);
    EXPECT_EQ(got[1].messages_size(), 0);
    ASSERT_EQ(got[2].messages_size(), 200);
    EXPECT_EQ(got[2].messages(199).index(), 219u);
    EXPECT_EQ(got[2].cluster_id(), 7u);
  }
}

TEST(RaftLinkTest, OversizedFrameIsRefused) {
  std::string stream;
  AppendLinkFrame(Batch(1, 100), &stream);
  LinkFrameReader reader(64, kLink);
  size_t room = 0;
  char* p = reader.Reserve(stream.size(), &room);
  std::memcpy(p, stream.data(), stream.size());
  reader.Commit(stream.size());
  std::string_view frame;
  EXPECT_EQ(reader.Next(&frame), LinkFrameReader::Result::kTooLarge);
  EXPECT_EQ(reader.refused_length(), stream.size() - kLinkFrameHeaderBytes);
}

TEST(RaftLinkTest, BatchesMustAgreeWithTheHello) {
  EXPECT_TRUE(CheckLinkBatch(Batch(1, 3), kLink).ok());
  v1::RaftBatch other_cluster = Batch(1, 3);
  other_cluster.set_cluster_id(8);
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckLinkBatch(other_cluster, kLink)));
  v1::RaftBatch other_batch_sender = Batch(1, 3);
  other_batch_sender.set_from(3);
  EXPECT_TRUE(absl::IsPermissionDenied(CheckLinkBatch(other_batch_sender, kLink)));
  // Member 1 speaking for member 3 inside its own batch.
  v1::RaftBatch forged = Batch(1, 3);
  forged.mutable_messages(1)->set_from(3);
  EXPECT_TRUE(absl::IsPermissionDenied(CheckLinkBatch(forged, kLink)));
  v1::RaftBatch misaddressed = Batch(1, 3);
  misaddressed.mutable_messages(2)->set_to(3);
  EXPECT_TRUE(absl::IsInvalidArgument(CheckLinkBatch(misaddressed, kLink)));
  // Requests passed on to the leader name their originator, not the sender.
  for (raft::MessageType t : {raft::MessageType::MSG_PROP, raft::MessageType::MSG_READ_INDEX,
                              raft::MessageType::MSG_TRANSFER_LEADER}) {
    v1::RaftBatch forwarded = Batch(1, 1);
    forwarded.mutable_messages(0)->set_type(t);
    forwarded.mutable_messages(0)->set_from(3);
    EXPECT_TRUE(CheckLinkBatch(forwarded, kLink).ok()) << t;
  }
}

// A connected pair of sockets; `bytes` written to one end, which is then
// closed, are read from the other.
struct SocketPair {
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~SocketPair() {
    if (fds[0] >= 0) ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
  }
  void WriteAndClose(const std::string& bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
      const ssize_t n = ::write(fds[1], bytes.data() + at, bytes.size() - at);
      ASSERT_GT(n, 0);
      at += static_cast<size_t>(n);
    }
    ::close(fds[1]);
    fds[1] = -1;
  }
  int fds[2] = {-1, -1};
};

// Reads the link until it ends (a blocking socket, one recv per call).
bool ReadLink(int fd, LinkFrameReader* reader, std::vector<raft::Message>* out, std::string* why) {
  v1::RaftBatch scratch;
  while (ReadLinkFrames(fd, /*drain=*/false, reader, &scratch, out, why)) {
  }
  return reader->refused();
}

TEST(RaftLinkTest, ABatchFromAnotherSenderEndsTheLinkAsRefused) {
  v1::RaftBatch forged = Batch(10, 2);
  forged.mutable_messages(1)->set_from(3);
  std::string stream;
  AppendLinkFrame(Batch(1, 2), &stream);
  AppendLinkFrame(forged, &stream);
  AppendLinkFrame(Batch(20, 2), &stream);
  SocketPair pair;
  pair.WriteAndClose(stream);
  LinkFrameReader reader(1 << 20, kLink);
  std::vector<raft::Message> got;
  std::string why;
  EXPECT_TRUE(ReadLink(pair.fds[0], &reader, &got, &why));
  EXPECT_NE(why.find("member 3"), std::string::npos) << why;
  // The frame before the forged one was delivered; nothing from or after it.
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].index(), 2u);
}

TEST(RaftLinkTest, AnOrderlyEndIsNoRefusal) {
  std::string stream;
  AppendLinkFrame(Batch(1, 2), &stream);
  SocketPair pair;
  pair.WriteAndClose(stream);
  LinkFrameReader reader(1 << 20, kLink);
  std::vector<raft::Message> got;
  std::string why;
  EXPECT_FALSE(ReadLink(pair.fds[0], &reader, &got, &why));
  EXPECT_TRUE(why.empty()) << why;
  EXPECT_EQ(got.size(), 2u);
}

// Random and mutated streams: the reader never crashes, and every message
// it delivers came from the hello's sender, for the hello's receiver.
TEST(RaftLinkTest, RandomAndMutatedStreamsDeliverOnlyWhatTheHelloAllows) {
  std::mt19937_64 rng(20261207);
  auto rand = [&](uint64_t n) { return rng() % n; };
  int refused = 0;
  int delivered = 0;
  for (int round = 0; round < 1500; ++round) {
    std::string stream;
    const int batches = 1 + static_cast<int>(rand(4));
    for (int b = 0; b < batches; ++b) {
      v1::RaftBatch batch = Batch(rand(100), 1 + static_cast<int>(rand(4)));
      for (raft::Message& m : *batch.mutable_messages()) {
        m.set_type(static_cast<raft::MessageType>(rand(18)));
        m.set_term(rand(5));
      }
      switch (rand(6)) {  // a mutation of the batch's identity, or none
        case 0:
          batch.set_cluster_id(rand(10));
          break;
        case 1:
          batch.set_from(rand(4));
          break;
        case 2:
          batch.mutable_messages(0)->set_from(rand(4));
          break;
        case 3:
          batch.mutable_messages(0)->set_to(rand(4));
          break;
        default:
          break;
      }
      AppendLinkFrame(batch, &stream);
    }
    switch (rand(4)) {  // a mutation of the bytes, or none
      case 0:
        stream[rand(stream.size())] = static_cast<char>(rng());
        break;
      case 1:
        stream.resize(rand(stream.size()));
        break;
      case 2:
        stream.insert(rand(stream.size() + 1), std::string(1 + rand(8), static_cast<char>(rng())));
        break;
      default:
        break;
    }
    if (rand(10) == 0) {  // pure noise
      stream.resize(rand(64));
      for (char& c : stream) c = static_cast<char>(rng());
    }
    SocketPair pair;
    pair.WriteAndClose(stream);
    LinkFrameReader reader(1 << 16, kLink);
    std::vector<raft::Message> got;
    std::string why;
    if (ReadLink(pair.fds[0], &reader, &got, &why)) {
      ++refused;
      EXPECT_FALSE(why.empty());
    }
    for (const raft::Message& m : got) {
      ++delivered;
      EXPECT_EQ(m.to(), kLink.to) << "round " << round;
      if (!raft::IsForwardedRequest(m.type())) {
        EXPECT_EQ(m.from(), kLink.from) << "round " << round;
      }
    }
  }
  // The rounds exercised both outcomes.
  EXPECT_GT(refused, 100);
  EXPECT_GT(delivered, 1000);
}

}  // namespace
}  // namespace synod::server
