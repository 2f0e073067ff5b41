// Connection limits per client IP on a real replica (docs/security.md,
// "Limits"): long-lived gRPC streams beyond --max_streams_per_ip end at once
// with RESOURCE_EXHAUSTED, ZooKeeper connections beyond
// --zk_max_client_cnxns are closed at accept; what was open before keeps
// working, and a unit given back can be taken again. Every client here is
// 127.0.0.1, so they all count against one address.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/zk/jute.h"
#include "server/zk/records.h"
#include "synod/v1/session.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"
#include "synod/v1/watch.grpc.pb.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/free_port.h"

namespace synod::e2e {
namespace {

constexpr int kLimit = 2;
// Bounds of the polls that wait for the replica to notice a closed stream
// or connection (it gives the unit back on its own threads).
constexpr int kMaxAttempts = 50;
constexpr absl::Duration kPollFor = absl::Seconds(10);

// The value of `series` (name with labels, as printed) in /metrics; -1 if
// absent or unreachable.
double MetricValue(const std::string& metrics_addr, const std::string& series) {
  const size_t colon = metrics_addr.rfind(':');
  int port = 0;
  if (!absl::SimpleAtoi(metrics_addr.substr(colon + 1), &port)) return -1;
  httplib::Client http(metrics_addr.substr(0, colon), port);
  http.set_read_timeout(5, 0);
  httplib::Result r = http.Get("/metrics");
  if (!r || r->status != 200) return -1;
  for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double v = 0;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
  }
  return -1;
}

// ---- gRPC streams ----------------------------------------------------------

// A channel of its own (its own HTTP/2 connection), so that the count is
// seen to be per address, not per connection.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& addr) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
}

template <typename Stream>
struct Open {
  std::unique_ptr<grpc::ClientContext> ctx = Ctx(absl::Seconds(60));
  std::unique_ptr<Stream> stream;
};

using PipelineRw = grpc::ClientReaderWriter<v1::PipelineRequest, v1::PipelineResponse>;
using WatchRw = grpc::ClientReaderWriter<v1::WatchRequest, v1::WatchResponse>;
using KeepAliveRw = grpc::ClientReaderWriter<v1::KeepAliveRequest, v1::KeepAliveResponse>;

Open<PipelineRw> OpenPipeline(const std::shared_ptr<grpc::Channel>& channel) {
  Open<PipelineRw> o;
  o.stream = v1::Tree::NewStub(channel)->Pipeline(o.ctx.get());
  return o;
}
Open<WatchRw> OpenWatch(const std::shared_ptr<grpc::Channel>& channel) {
  Open<WatchRw> o;
  o.stream = v1::Watch::NewStub(channel)->Watch(o.ctx.get());
  return o;
}
Open<KeepAliveRw> OpenKeepAlive(const std::shared_ptr<grpc::Channel>& channel) {
  Open<KeepAliveRw> o;
  o.stream = v1::Session::NewStub(channel)->KeepAlive(o.ctx.get());
  return o;
}

// One round trip on each kind of stream: the stream is served.
bool PipelineServes(PipelineRw* s) {
  v1::PipelineRequest request;
  v1::PipelineCall* call = request.add_calls();
  call->set_id(7);
  call->mutable_exists()->set_path("/");
  v1::PipelineResponse response;
  return s->Write(request) && s->Read(&response) && response.replies_size() == 1 &&
         response.replies(0).id() == 7;
}
bool WatchServes(WatchRw* s, uint64_t watch_id) {
  v1::WatchRequest request;
  request.mutable_create()->set_watch_id(watch_id);
  request.mutable_create()->set_path("/");
  v1::WatchResponse response;
  return s->Write(request) && s->Read(&response) && response.watch_id() == watch_id &&
         response.created();
}
bool KeepAliveServes(KeepAliveRw* s) {
  // No such session: the reply says so in its header, the stream goes on.
  v1::KeepAliveRequest request;
  request.set_session_id(12345);
  v1::KeepAliveResponse response;
  return s->Write(request) && s->Read(&response) && response.session_id() == 12345;
}

// Asks a stream that should have ended unserved for a round trip (a served
// one answers at once), then ends it; its final status.
template <typename Rw, typename ServesFn>
grpc::Status EndOf(Rw* s, ServesFn serves) {
  EXPECT_FALSE(serves(s)) << "a stream over the limit was served";
  s->WritesDone();
  return s->Finish();
}

void ExpectRefused(const grpc::Status& status) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "--max_streams_per_ip"))
      << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "127.0.0.1")) << status.error_message();
}

// Opens streams with `open` until one is served (`serves`), while the
// replica has not yet seen a stream end and refuses them; bounded in count
// and time. The served stream is left in `*out`; `*refused` counts the
// refusals meanwhile.
template <typename Rw, typename OpenFn, typename ServesFn>
bool OpenUntilServed(OpenFn open, ServesFn serves, std::optional<Open<Rw>>* out, int* refused) {
  const absl::Time give_up = absl::Now() + kPollFor;
  for (int i = 0; i < kMaxAttempts && absl::Now() < give_up; ++i) {
    out->reset();  // the stream before its context
    out->emplace(open());
    if (serves((*out)->stream.get())) return true;
    ExpectRefused((*out)->stream->Finish());
    ++*refused;
  }
  return false;
}

TEST(ConnLimitsE2eTest, StreamsBeyondTheLimitPerIpAreRefused) {
  TestCluster::Options options;
  options.size = 1;
  options.metrics = true;
  options.extra_flags = {absl::StrCat("--max_streams_per_ip=", kLimit)};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.StartAll().ok());
  ASSERT_NE(cluster.WaitForLeader(absl::Seconds(20)), 0) << cluster.LogTail(1);
  const std::string addr = cluster.client_addr(1);
  std::shared_ptr<grpc::Channel> first = OwnChannel(addr);
  std::shared_ptr<grpc::Channel> second = OwnChannel(addr);

  // Up to the limit, two kinds, on one connection.
  Open<PipelineRw> pipeline = OpenPipeline(first);
  ASSERT_TRUE(PipelineServes(pipeline.stream.get()));
  Open<KeepAliveRw> keep_alive = OpenKeepAlive(first);
  ASSERT_TRUE(KeepAliveServes(keep_alive.stream.get()));

  // One more of any kind, from another connection of the same address.
  Open<WatchRw> watch = OpenWatch(second);
  ExpectRefused(EndOf(watch.stream.get(), [](WatchRw* w) { return WatchServes(w, 9); }));
  Open<PipelineRw> pipeline2 = OpenPipeline(second);
  ExpectRefused(EndOf(pipeline2.stream.get(), PipelineServes));
  Open<KeepAliveRw> keep_alive2 = OpenKeepAlive(first);
  ExpectRefused(EndOf(keep_alive2.stream.get(), KeepAliveServes));

  // The streams within the limit still work.
  EXPECT_TRUE(PipelineServes(pipeline.stream.get()));
  EXPECT_TRUE(KeepAliveServes(keep_alive.stream.get()));

  // Closing one gives its unit back: a new stream is taken (once the
  // replica has seen the old one end, which it does on its own threads).
  ASSERT_TRUE(keep_alive.stream->WritesDone());
  ASSERT_TRUE(keep_alive.stream->Finish().ok());
  int refused_meanwhile = 0;
  std::optional<Open<WatchRw>> watch2;
  ASSERT_TRUE(OpenUntilServed([&] { return OpenWatch(second); },
                              [](WatchRw* s) { return WatchServes(s, 1); }, &watch2,
                              &refused_meanwhile))
      << "no stream served after one was closed";
  EXPECT_TRUE(PipelineServes(pipeline.stream.get()));

  // At the limit again.
  Open<PipelineRw> pipeline3 = OpenPipeline(first);
  ExpectRefused(EndOf(pipeline3.stream.get(), PipelineServes));

  // A stream that is cancelled instead of closed gives its unit back too.
  pipeline.ctx->TryCancel();
  EXPECT_EQ(pipeline.stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  std::optional<Open<KeepAliveRw>> keep_alive3;
  ASSERT_TRUE(OpenUntilServed([&] { return OpenKeepAlive(first); }, KeepAliveServes, &keep_alive3,
                              &refused_meanwhile))
      << "no stream served after one was cancelled";
  EXPECT_TRUE(WatchServes(watch2->stream.get(), 2));

  EXPECT_EQ(
      MetricValue(cluster.metrics_addr(1), "synod_client_refused_total{what=\"stream_per_ip\"}"),
      4 + refused_meanwhile);
  watch2->stream->WritesDone();
  EXPECT_TRUE(watch2->stream->Finish().ok());
  keep_alive3->stream->WritesDone();
  EXPECT_TRUE(keep_alive3->stream->Finish().ok());
}

// ---- ZooKeeper connections -------------------------------------------------

int ConnectTo(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{10, 0};  // a bound on every read and write below
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << strerror(errno);
  return fd;
}

enum class Answer { kFrame, kClosed, kOther };

// Sends one frame and reads one back.
Answer RoundTrip(int fd, const std::string& body, std::string* reply) {
  zk::JuteWriter w;
  w.WriteBuffer(body);  // a length-prefixed frame
  const std::string frame = w.Take();
  if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size())) {
    return errno == EPIPE || errno == ECONNRESET ? Answer::kClosed : Answer::kOther;
  }
  std::string in;
  char buf[4096];
  for (;;) {
    if (in.size() >= 4) {
      const auto* p = reinterpret_cast<const unsigned char*>(in.data());
      const size_t len = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
      if (in.size() >= 4 + len) {
        *reply = in.substr(4, len);
        return Answer::kFrame;
      }
    }
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return Answer::kClosed;
    if (n < 0) return Answer::kOther;  // timeout
    in.append(buf, static_cast<size_t>(n));
  }
}

// ZooKeeper's handshake: a new session.
Answer Handshake(int fd) {
  zk::ConnectRequest request;
  request.timeout_ms = 30000;
  request.password.assign(16, '\0');
  request.has_read_only = true;
  zk::JuteWriter w;
  zk::Encode(w, request);
  std::string reply;
  const Answer a = RoundTrip(fd, w.Take(), &reply);
  if (a != Answer::kFrame) return a;
  zk::JuteReader r(reply);
  zk::ConnectResponse response;
  return zk::Decode(r, &response).ok() && response.session_id != 0 ? Answer::kFrame
                                                                   : Answer::kOther;
}

bool Pings(int fd) {
  zk::JuteWriter w;
  zk::Encode(w, zk::RequestHeader{zk::kXidPing, zk::kOpPing});
  std::string reply;
  if (RoundTrip(fd, w.Take(), &reply) != Answer::kFrame) return false;
  zk::JuteReader r(reply);
  zk::ReplyHeader header;
  return zk::Decode(r, &header).ok() && header.xid == zk::kXidPing;
}

TEST(ConnLimitsE2eTest, ZooKeeperConnectionsBeyondTheLimitPerIpAreClosed) {
  const int zk_port = testing::FreePort();
  TestCluster::Options options;
  options.size = 1;
  options.metrics = true;
  options.extra_flags = {absl::StrCat("--zk_addr=127.0.0.1:", zk_port),
                         absl::StrCat("--zk_max_client_cnxns=", kLimit)};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.StartAll().ok());
  ASSERT_NE(cluster.WaitForLeader(absl::Seconds(20)), 0) << cluster.LogTail(1);

  const int a = ConnectTo(zk_port);
  const int b = ConnectTo(zk_port);
  ASSERT_EQ(Handshake(a), Answer::kFrame);
  ASSERT_EQ(Handshake(b), Answer::kFrame);
  const int c = ConnectTo(zk_port);
  EXPECT_EQ(Handshake(c), Answer::kClosed) << "a third connection from one address was served";
  ::close(c);
  EXPECT_TRUE(Pings(a));
  EXPECT_TRUE(Pings(b));

  // Closing one lets a new one in (once the listener has seen the close).
  ::close(a);
  bool served = false;
  int refused_meanwhile = 0;
  const absl::Time give_up = absl::Now() + kPollFor;
  int d = -1;
  for (int i = 0; i < kMaxAttempts && absl::Now() < give_up && !served; ++i) {
    d = ConnectTo(zk_port);
    const Answer answer = Handshake(d);
    served = answer == Answer::kFrame;
    if (!served) {
      EXPECT_EQ(answer, Answer::kClosed);
      ::close(d);
      ++refused_meanwhile;
    }
  }
  ASSERT_TRUE(served) << "no connection served after one was closed";
  EXPECT_TRUE(Pings(b));
  EXPECT_TRUE(Pings(d));
  EXPECT_EQ(MetricValue(cluster.metrics_addr(1),
                        "synod_client_refused_total{what=\"zk_connection_per_ip\"}"),
            1 + refused_meanwhile);
  EXPECT_TRUE(absl::StrContains(cluster.LogTail(1, 100000), "--zk_max_client_cnxns"));
  ::close(b);
  ::close(d);
}

}  // namespace
}  // namespace synod::e2e
