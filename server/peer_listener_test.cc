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

class NullMailbox : public RaftMailbox {
 public:
  void DeliverMessages(std::vector<raft::Message>) override {}
  void ReportUnreachable(raft::NodeId) override {}
  void ReportSnapshot(raft::NodeId, bool) override {}
};

// A listener for member 2 of cluster 42 on a free port; the links it hands
// over are recorded.
struct Fixture {
  Fixture()
      : faults(""),
        snapshots(tmp.Sub("snapshots")),
        inbox(&snapshots),
        service(42, 2, &mailbox, &inbox, &faults) {
    // The gRPC side as in a replica: the Peer service, no port of its own.
    grpc::ServerBuilder builder;
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    PeerListener::Options o;
    o.addr = "127.0.0.1:0";
    o.cluster_id = 42;
    o.self = 2;
    o.max_frame_bytes = 1 << 16;
    o.adopt_link = [this](int fd, raft::NodeId from, std::unique_ptr<server::LinkTlsSession>) {
      absl::MutexLock lock(&mu);
      adopted.emplace_back(fd, from);
    };
    o.link_refused = [this] { ++refused; };
    auto started = PeerListener::Start(o, server.get());
    EXPECT_TRUE(started.ok()) << started.status();
    listener = *std::move(started);
    addr = absl::StrCat("127.0.0.1:", listener->port());
  }
  ~Fixture() {
    listener->Stop();
    server->Shutdown();
    for (const auto& [fd, from] : Adopted()) ::close(fd);
  }
  std::vector<std::pair<int, raft::NodeId>> Adopted() {
    absl::MutexLock lock(&mu);
    return adopted;
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
  NullMailbox mailbox;
  FaultInjection faults;
  storage::SnapshotFiles snapshots;
  storage::SnapshotInbox inbox;
  PeerService service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<PeerListener> listener;
  std::string addr;
  std::atomic<int> refused{0};
  absl::Mutex mu;
  std::vector<std::pair<int, raft::NodeId>> adopted ABSL_GUARDED_BY(mu);
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

TEST(PeerListenerTest, ABadHelloClosesTheConnectionAndHandsNothingOver) {
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
  EXPECT_TRUE(f.Adopted().empty());
}

TEST(PeerListenerTest, AHelloNamingNoSenderOrThisReplicaIsRefused) {
  Fixture f;
  for (raft::NodeId from : {raft::NodeId{2}, raft::kNoNode}) {
    const int fd = f.Send(EncodeLinkHello({42, from, 2}));
    EXPECT_TRUE(Fixture::ClosedByPeer(fd));  // without an answer
    ::close(fd);
  }
  ASSERT_TRUE(WaitUntil([&] { return f.refused.load() == 2; }, absl::Seconds(5)));
  EXPECT_TRUE(f.Adopted().empty());
}

TEST(PeerListenerTest, AcceptedLinksGoToTheAdopterRefusedOnesDoNot) {
  Fixture f;
  const int refused = f.Send(EncodeLinkHello({42, 1, 3}));  // meant for member 3
  EXPECT_TRUE(Fixture::ClosedByPeer(refused));
  const int link = f.Send(EncodeLinkHello({42, 7, 2}));
  std::string answer(kLinkAnswerBytes, '\0');
  ASSERT_TRUE(RecvExactly(link, answer.data(), answer.size(), absl::Now() + absl::Seconds(5), -1));
  LinkAnswer a;
  ASSERT_TRUE(DecodeLinkAnswer(answer, &a));
  EXPECT_EQ(a, LinkAnswer::kAccepted);
  ASSERT_TRUE(WaitUntil([&] { return !f.Adopted().empty(); }, absl::Seconds(5)));
  const std::vector<std::pair<int, raft::NodeId>> adopted = f.Adopted();
  ASSERT_EQ(adopted.size(), 1u);
  EXPECT_EQ(adopted[0].second, 7u);
  // The adopter reads the frames: the listener kept nothing of them.
  const std::string frame = Frame(5);
  ASSERT_TRUE(SendExactly(link, frame.data(), frame.size(), absl::Now() + absl::Seconds(5), -1));
  char buf[64];
  ASSERT_TRUE(RecvExactly(adopted[0].first, buf, frame.size(), absl::Now() + absl::Seconds(5), -1));
  EXPECT_EQ(std::string(buf, frame.size()), frame);
  ::close(link);
  ::close(refused);
}

TEST(PeerListenerTest, StartWithoutAnAdopterIsRefused) {
  PeerListener::Options o;
  o.addr = "127.0.0.1:0";
  o.cluster_id = 42;
  o.self = 2;
  EXPECT_EQ(PeerListener::Start(o, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PeerListenerTest, StopEndsSilentConnections) {
  auto f = std::make_unique<Fixture>();
  // Connected but silent: still being classified when Stop comes.
  absl::StatusOr<int> silent = ConnectTcp(f->addr, absl::Seconds(5), -1);
  ASSERT_TRUE(silent.ok());
  const absl::Time start = absl::Now();
  f->listener->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // not the 10 s classify timeout
  EXPECT_TRUE(Fixture::ClosedByPeer(*silent));
  ::close(*silent);
}

}  // namespace
}  // namespace synod::server
