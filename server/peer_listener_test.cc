#include "server/peer_listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/peer_service.h"
#include "server/raft_link.h"
#include "server/tcp_socket.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod::server {
namespace {

using ::synod::testing::WaitUntil;

class CountingMailbox : public RaftMailbox {
 public:
  void DeliverMessages(std::vector<raft::Message> messages) override {
    absl::MutexLock lock(&mu_);
    for (auto& m : messages) indexes_.push_back(m.index());
  }
  void ReportUnreachable(raft::NodeId) override {}
  void ReportSnapshot(raft::NodeId, bool) override {}
  std::vector<uint64_t> indexes() {
    absl::MutexLock lock(&mu_);
    return indexes_;
  }

 private:
  absl::Mutex mu_;
  std::vector<uint64_t> indexes_;
};

// A listener for member 2 of cluster 42 on a free port.
struct Fixture {
  using Adopt = std::function<void(int, raft::NodeId)>;
  explicit Fixture(Adopt adopt = nullptr)
      : faults(""),
        snapshots(tmp.Sub("snapshots")),
        service(42, 2, &mailbox, &snapshots, &faults) {
    // The gRPC side as in a replica: the Peer service, no port of its own.
    grpc::ServerBuilder builder;
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    PeerListener::Options o;
    o.addr = "127.0.0.1:0";
    o.cluster_id = 42;
    o.self = 2;
    o.max_frame_bytes = 1 << 16;
    o.adopt_link = std::move(adopt);
    o.link_refused = [this] { ++refused; };
    auto started = PeerListener::Start(o, &mailbox, &faults, server.get());
    EXPECT_TRUE(started.ok()) << started.status();
    listener = *std::move(started);
    addr = absl::StrCat("127.0.0.1:", listener->port());
  }
  ~Fixture() {
    listener->Stop();
    server->Shutdown();
  }
  // Connects and sends `bytes`; returns the socket.
  int Send(const std::string& bytes) {
    absl::StatusOr<int> fd = ConnectTcp(addr, absl::Seconds(5), -1);
    EXPECT_TRUE(fd.ok()) << fd.status();
    EXPECT_TRUE(SendExactly(*fd, bytes.data(), bytes.size(), absl::Now() + absl::Seconds(5), -1));
    return *fd;
  }
  // True when the listener closed `fd` (end of stream or reset) within 5 s,
  // after whatever it answered; false on a timeout.
  static bool ClosedByPeer(int fd) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    char buf[64];
    while (absl::Now() < deadline) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
      if (n < 0) absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  ::synod::testing::TempDir tmp;
  CountingMailbox mailbox;
  FaultInjection faults;
  SnapshotFiles snapshots;
  PeerService service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<PeerListener> listener;
  std::string addr;
  std::atomic<int> refused{0};
};

// A frame of member 1 (cluster 42) for member 2; `from` names the
// message's sender.
std::string Frame(uint64_t index, raft::NodeId from = 1) {
  v1::RaftBatch batch;
  batch.set_cluster_id(42);
  batch.set_from(1);
  raft::Message* m = batch.add_messages();
  m->set_type(raft::MessageType::MSG_APP);
  m->set_from(from);
  m->set_to(2);
  m->set_index(index);
  std::string out;
  AppendLinkFrame(batch, &out);
  return out;
}

TEST(PeerListenerTest, AcceptedLinkDeliversFramesInOrder) {
  Fixture f;
  const int fd = f.Send(EncodeLinkHello({42, 1, 2}));
  std::string answer(kLinkAnswerBytes, '\0');
  ASSERT_TRUE(RecvExactly(fd, answer.data(), answer.size(), absl::Now() + absl::Seconds(5), -1));
  LinkAnswer a;
  ASSERT_TRUE(DecodeLinkAnswer(answer, &a));
  EXPECT_EQ(a, LinkAnswer::kAccepted);
  std::string frames;
  for (uint64_t i = 1; i <= 50; ++i) frames += Frame(i);
  // In two pieces, split inside a frame.
  ASSERT_TRUE(SendExactly(fd, frames.data(), 7, absl::Now() + absl::Seconds(5), -1));
  ASSERT_TRUE(SendExactly(fd, frames.data() + 7, frames.size() - 7,
                          absl::Now() + absl::Seconds(5), -1));
  ASSERT_TRUE(WaitUntil([&] { return f.mailbox.indexes().size() == 50; }, absl::Seconds(10)));
  std::vector<uint64_t> got = f.mailbox.indexes();
  for (uint64_t i = 0; i < 50; ++i) EXPECT_EQ(got[i], i + 1);
  ::close(fd);
}

TEST(PeerListenerTest, BadInputClosesTheConnectionAndDeliversNothing) {
  Fixture f;
  // Starts like a hello but is none.
  int fd = f.Send("SYNODXX1" + std::string(24, '\0'));
  EXPECT_TRUE(Fixture::ClosedByPeer(fd));
  ::close(fd);
  // Another cluster: refused with an answer, then closed.
  fd = f.Send(EncodeLinkHello({43, 1, 2}));
  std::string answer(kLinkAnswerBytes, '\0');
  ASSERT_TRUE(RecvExactly(fd, answer.data(), answer.size(), absl::Now() + absl::Seconds(5), -1));
  LinkAnswer a;
  ASSERT_TRUE(DecodeLinkAnswer(answer, &a));
  EXPECT_EQ(a, LinkAnswer::kOtherCluster);
  EXPECT_TRUE(Fixture::ClosedByPeer(fd));
  ::close(fd);
  // An accepted link that then sends `bytes` is closed.
  auto expect_closed_after = [&](const std::string& bytes) {
    const int link = f.Send(EncodeLinkHello({42, 1, 2}));
    ASSERT_TRUE(
        RecvExactly(link, answer.data(), answer.size(), absl::Now() + absl::Seconds(5), -1));
    ASSERT_TRUE(SendExactly(link, bytes.data(), bytes.size(), absl::Now() + absl::Seconds(5), -1));
    EXPECT_TRUE(Fixture::ClosedByPeer(link));
    ::close(link);
  };
  expect_closed_after(std::string("\xff\xff\xff\x00", 4));  // a frame above the limit
  expect_closed_after(std::string("\x03\x00\x00\x00\xff\xff\xff", 7));  // no RaftBatch
  EXPECT_TRUE(f.mailbox.indexes().empty());
}

TEST(PeerListenerTest, AFrameFromAnotherSenderClosesTheLinkAndIsCounted) {
  Fixture f;
  const int fd = f.Send(EncodeLinkHello({42, 1, 2}));
  std::string answer(kLinkAnswerBytes, '\0');
  ASSERT_TRUE(RecvExactly(fd, answer.data(), answer.size(), absl::Now() + absl::Seconds(5), -1));
  // Member 1's link carries a message that claims to come from member 3.
  const std::string frames = Frame(1) + Frame(2, /*from=*/3) + Frame(3);
  ASSERT_TRUE(SendExactly(fd, frames.data(), frames.size(), absl::Now() + absl::Seconds(5), -1));
  EXPECT_TRUE(Fixture::ClosedByPeer(fd));
  ASSERT_TRUE(WaitUntil([&] { return f.refused.load() == 1; }, absl::Seconds(5)));
  EXPECT_EQ(f.mailbox.indexes(), std::vector<uint64_t>{1});
  ::close(fd);
}

TEST(PeerListenerTest, AHelloNamingNoSenderOrThisReplicaIsRefused) {
  Fixture f;
  for (raft::NodeId from : {raft::NodeId{2}, raft::kNoNode}) {
    const int fd = f.Send(EncodeLinkHello({42, from, 2}));
    EXPECT_TRUE(Fixture::ClosedByPeer(fd));  // without an answer
    ::close(fd);
  }
  ASSERT_TRUE(WaitUntil([&] { return f.refused.load() == 2; }, absl::Seconds(5)));
  EXPECT_TRUE(f.mailbox.indexes().empty());
}

TEST(PeerListenerTest, AcceptedLinksGoToTheAdopterRefusedOnesDoNot) {
  absl::Mutex mu;
  std::vector<std::pair<int, raft::NodeId>> adopted;
  Fixture f([&](int fd, raft::NodeId from) {
    absl::MutexLock lock(&mu);
    adopted.emplace_back(fd, from);
  });
  const int refused = f.Send(EncodeLinkHello({42, 1, 3}));  // meant for member 3
  EXPECT_TRUE(Fixture::ClosedByPeer(refused));
  const int link = f.Send(EncodeLinkHello({42, 7, 2}));
  std::string answer(kLinkAnswerBytes, '\0');
  ASSERT_TRUE(RecvExactly(link, answer.data(), answer.size(), absl::Now() + absl::Seconds(5), -1));
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::MutexLock lock(&mu);
        return !adopted.empty();
      },
      absl::Seconds(5)));
  absl::MutexLock lock(&mu);
  ASSERT_EQ(adopted.size(), 1u);
  EXPECT_EQ(adopted[0].second, 7u);
  // The adopter reads the frames: the listener does not.
  const std::string frame = Frame(5);
  ASSERT_TRUE(SendExactly(link, frame.data(), frame.size(), absl::Now() + absl::Seconds(5), -1));
  char buf[64];
  ASSERT_TRUE(RecvExactly(adopted[0].first, buf, frame.size(), absl::Now() + absl::Seconds(5), -1));
  EXPECT_EQ(std::string(buf, frame.size()), frame);
  EXPECT_TRUE(f.mailbox.indexes().empty());
  ::close(adopted[0].first);
  ::close(link);
  ::close(refused);
}

TEST(PeerListenerTest, StopEndsOpenLinksAndSilentConnections) {
  auto f = std::make_unique<Fixture>();
  const int link = f->Send(EncodeLinkHello({42, 1, 2}));
  std::string answer(kLinkAnswerBytes, '\0');
  ASSERT_TRUE(
      RecvExactly(link, answer.data(), answer.size(), absl::Now() + absl::Seconds(5), -1));
  // Connected but silent: still being classified when Stop comes.
  absl::StatusOr<int> silent = ConnectTcp(f->addr, absl::Seconds(5), -1);
  ASSERT_TRUE(silent.ok());
  const absl::Time start = absl::Now();
  f->listener->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // not the 10 s classify timeout
  EXPECT_TRUE(Fixture::ClosedByPeer(link));
  EXPECT_TRUE(Fixture::ClosedByPeer(*silent));
  ::close(link);
  ::close(*silent);
}

}  // namespace
}  // namespace synod::server
