#include "server/raft_link.h"

#include <cstring>
#include <string>

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
    m->set_to(2);
    m->set_index(first_index + i);
  }
  return batch;
}

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
  // An HTTP/2 SETTINGS frame (what a gRPC-only replica sends first).
  const std::string settings("\x00\x00\x06\x04\x00\x00\x00\x00", 8);
  EXPECT_FALSE(DecodeLinkAnswer(settings, &got));
}

TEST(RaftLinkTest, FramesSurviveAnySplitOfTheStream) {
  std::string stream;
  AppendLinkFrame(Batch(1, 3), &stream);
  AppendLinkFrame(Batch(10, 0), &stream);  // empty batch: a frame of its own
  AppendLinkFrame(Batch(20, 200), &stream);
  for (size_t step : {size_t{1}, size_t{3}, size_t{7}, size_t{4096}}) {
    LinkFrameReader reader(1 << 20);
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
  LinkFrameReader reader(64);
  size_t room = 0;
  char* p = reader.Reserve(stream.size(), &room);
  std::memcpy(p, stream.data(), stream.size());
  reader.Commit(stream.size());
  std::string_view frame;
  EXPECT_EQ(reader.Next(&frame), LinkFrameReader::Result::kTooLarge);
  EXPECT_EQ(reader.refused_length(), stream.size() - kLinkFrameHeaderBytes);
}

}  // namespace
}  // namespace synod::server
