#include "server/peer_transport.h"

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/link_reader_testing.h"
#include "server/link_tls.h"
#include "server/peer_listener.h"
#include "server/peer_service.h"
#include "tests/testing/free_port.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/wait.h"

namespace synod::server {
namespace {

using ::synod::testing::FreePort;
using ::synod::testing::TempDir;
using ::synod::testing::TestCa;
using ::synod::testing::TestCert;
using ::synod::testing::WaitUntil;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class RecordingMailbox : public RaftMailbox {
 public:
  void DeliverMessages(std::vector<raft::Message> messages) override {
    absl::MutexLock lock(&mu_);
    for (auto& m : messages) received_.push_back(std::move(m));
  }
  void ReportUnreachable(raft::NodeId peer) override {
    absl::MutexLock lock(&mu_);
    ++unreachable_[peer];
  }
  void ReportSnapshot(raft::NodeId peer, bool ok) override {
    absl::MutexLock lock(&mu_);
    snapshots_.push_back({peer, ok});
  }
  std::vector<raft::Message> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  int unreachable(raft::NodeId peer) {
    absl::MutexLock lock(&mu_);
    return unreachable_[peer];
  }
  std::vector<std::pair<raft::NodeId, bool>> snapshots() {
    absl::MutexLock lock(&mu_);
    return snapshots_;
  }

 private:
  absl::Mutex mu_;
  std::vector<raft::Message> received_;
  std::map<raft::NodeId, int> unreachable_;
  std::vector<std::pair<raft::NodeId, bool>> snapshots_;
};

// One replica's receiving side: the peer listener, the gRPC server with
// the Peer service behind it, and readers of the accepted links.
struct Receiver {
  // `tls` (not owned): the port is mutual TLS.
  Receiver(uint64_t cluster_id, raft::NodeId id, const std::string& dir, std::string at = "",
           const LinkTls* tls = nullptr)
      : snapshots(dir),
        inbox(&snapshots),
        faults(""),
        service(cluster_id, id, &mailbox, &inbox, &faults),
        links(cluster_id, id, &mailbox) {
    EXPECT_TRUE(snapshots.Init().ok());
    addr = at.empty() ? absl::StrCat("127.0.0.1:", FreePort()) : at;
    grpc::ServerBuilder builder;
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    PeerListener::Options o;
    o.addr = addr;
    o.cluster_id = cluster_id;
    o.self = id;
    o.adopt_link = [this](int fd, raft::NodeId from, std::unique_ptr<LinkTlsSession> tls) {
      links.Adopt(fd, from, std::move(tls));
    };
    o.link_tls = tls;
    auto started = PeerListener::Start(o, server.get());
    EXPECT_TRUE(started.ok()) << started.status();
    if (started.ok()) listener = *std::move(started);
  }
  ~Receiver() {
    if (listener != nullptr) listener->Stop();
    links.Stop();
    server->Shutdown();
  }

  RecordingMailbox mailbox;
  storage::SnapshotFiles snapshots;
  storage::SnapshotInbox inbox;
  FaultInjection faults;
  PeerService service;
  ::synod::testing::LinkReaders links;
  std::string addr;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<PeerListener> listener;
};

raft::Message Msg(raft::NodeId to, uint64_t index) {
  raft::Message m;
  m.set_type(raft::MessageType::MSG_APP);
  m.set_from(1);
  m.set_to(to);
  m.set_index(index);
  return m;
}

// Keeps sending to `to` until the transport reports it unreachable (a
// refusal or a broken link surfaces that way); false after 10 s.
bool SendUntilUnreachable(PeerTransport* transport, RecordingMailbox* mailbox, raft::NodeId to) {
  return WaitUntil(
      [&] {
        std::vector<raft::Message> batch = {Msg(to, 1)};
        transport->Send(&batch);
        return mailbox->unreachable(to) > 0;
      },
      absl::Seconds(10));
}

PeerTransport::Options TransportOptions(uint64_t cluster_id) {
  PeerTransport::Options o;
  o.cluster_id = cluster_id;
  o.self = 1;
  o.snapshot_chunk_bytes = 1000;  // several chunks for a small file
  return o;
}

TEST(PeerTransportTest, DeadPeerDoesNotStallLivePeer) {
  TempDir tmp;
  Receiver two(42, 2, tmp.Sub("two"));
  RecordingMailbox mailbox;
  storage::SnapshotFiles snapshots(tmp.Sub("one"));
  FaultInjection faults("");
  PeerTransport transport(TransportOptions(42), &mailbox, &snapshots, &faults);
  const std::string dead = absl::StrCat("127.0.0.1:", FreePort());  // nobody listens
  transport.UpdatePeers({{2, two.addr}, {3, dead}});

  constexpr int kCount = 2000;
  for (int i = 1; i <= kCount; ++i) {
    std::vector<raft::Message> batch = {Msg(2, i), Msg(3, i)};
    transport.Send(&batch);
  }
  ASSERT_TRUE(
      WaitUntil([&] { return two.mailbox.received().size() == kCount; }, absl::Seconds(20)));
  auto got = two.mailbox.received();
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(got[i].index(), static_cast<uint64_t>(i + 1));
  EXPECT_TRUE(WaitUntil([&] { return mailbox.unreachable(3) > 0; }, absl::Seconds(10)));
  EXPECT_FALSE(transport.Reachable(3));
  EXPECT_TRUE(transport.Reachable(2));
  transport.Stop();
}

TEST(PeerTransportTest, OtherClusterIsRefused) {
  TempDir tmp;
  Receiver two(42, 2, tmp.Sub("two"));
  RecordingMailbox mailbox;
  storage::SnapshotFiles snapshots(tmp.Sub("one"));
  FaultInjection faults("");
  PeerTransport transport(TransportOptions(43), &mailbox, &snapshots, &faults);
  transport.UpdatePeers({{2, two.addr}});
  ASSERT_TRUE(SendUntilUnreachable(&transport, &mailbox, 2));
  EXPECT_TRUE(two.mailbox.received().empty());
}

TEST(PeerTransportTest, StreamsSnapshotInChunks) {
  TempDir tmp;
  Receiver two(42, 2, tmp.Sub("two"));
  RecordingMailbox mailbox;
  storage::SnapshotFiles snapshots(tmp.Sub("one"));
  ASSERT_TRUE(snapshots.Init().ok());
  std::string content;
  for (int i = 0; i < 5000; ++i) content += absl::StrCat(i, ",");
  {
    const std::string temp = snapshots.TempPathFor(77, "t");
    std::ofstream(temp, std::ios::binary) << content;
    ASSERT_TRUE(snapshots.Publish(temp, 77).ok());
  }
  FaultInjection faults("");
  PeerTransport transport(TransportOptions(42), &mailbox, &snapshots, &faults);
  transport.UpdatePeers({{2, two.addr}});
  raft::Message snap;
  snap.set_type(raft::MessageType::MSG_SNAP);
  snap.set_from(1);
  snap.set_to(2);
  snap.mutable_snapshot()->mutable_metadata()->set_index(77);
  snap.mutable_snapshot()->mutable_metadata()->set_term(3);
  std::vector<raft::Message> batch = {snap};
  transport.Send(&batch);
  ASSERT_TRUE(WaitUntil([&] { return !mailbox.snapshots().empty(); }, absl::Seconds(20)));
  EXPECT_EQ(mailbox.snapshots()[0], std::make_pair(raft::NodeId{2}, true));
  auto got = two.mailbox.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type(), raft::MessageType::MSG_SNAP);
  EXPECT_EQ(got[0].snapshot().metadata().index(), 77u);
  std::ifstream in(two.snapshots.PathFor(77), std::ios::binary);
  std::stringstream received;
  received << in.rdbuf();
  EXPECT_EQ(received.str(), content);
}

TEST(PeerTransportTest, MissingSnapshotFileReportsFailure) {
  TempDir tmp;
  Receiver two(42, 2, tmp.Sub("two"));
  RecordingMailbox mailbox;
  storage::SnapshotFiles snapshots(tmp.Sub("one"));
  ASSERT_TRUE(snapshots.Init().ok());
  FaultInjection faults("");
  PeerTransport transport(TransportOptions(42), &mailbox, &snapshots, &faults);
  transport.UpdatePeers({{2, two.addr}});
  raft::Message snap;
  snap.set_type(raft::MessageType::MSG_SNAP);
  snap.set_to(2);
  snap.mutable_snapshot()->mutable_metadata()->set_index(5);
  std::vector<raft::Message> batch = {snap};
  transport.Send(&batch);
  ASSERT_TRUE(WaitUntil([&] { return !mailbox.snapshots().empty(); }, absl::Seconds(10)));
  EXPECT_FALSE(mailbox.snapshots()[0].second);
}

TEST(PeerTransportTest, FaultInjectionDropsBothWays) {
  TempDir tmp;
  Receiver two(42, 2, tmp.Sub("two"));
  RecordingMailbox mailbox;
  storage::SnapshotFiles snapshots(tmp.Sub("one"));
  const std::string fault_file = tmp.Sub("faults");
  FaultInjection faults(fault_file);
  PeerTransport transport(TransportOptions(42), &mailbox, &snapshots, &faults);
  transport.UpdatePeers({{2, two.addr}});

  std::ofstream(fault_file) << "2\n";
  faults.Poll();
  EXPECT_TRUE(faults.Isolated(2));
  for (int i = 1; i <= 10; ++i) {
    std::vector<raft::Message> batch = {Msg(2, i)};
    transport.Send(&batch);
  }
  // Heal, then send a marker: it arrives, and nothing sent while isolated
  // arrived before it.
  std::ofstream(fault_file, std::ios::trunc) << "";
  faults.Poll();
  EXPECT_FALSE(faults.Isolated(2));
  std::vector<raft::Message> marker = {Msg(2, 999)};
  transport.Send(&marker);
  ASSERT_TRUE(WaitUntil([&] { return !two.mailbox.received().empty(); }, absl::Seconds(10)));
  auto got = two.mailbox.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].index(), 999u);

  // The receiving side drops messages from an isolated sender.
  std::ofstream(tmp.Sub("two-faults")) << "1";
  FaultInjection recv_faults(tmp.Sub("two-faults"));
  recv_faults.Poll();
  EXPECT_TRUE(recv_faults.Isolated(1));
  EXPECT_FALSE(recv_faults.Isolated(3));
}

// Sends `count` MSG_APPs to member `to` with indexes first.. and waits until
// `receiver` has them all, in order.
void SendAndExpectInOrder(PeerTransport* transport, Receiver* receiver, raft::NodeId to,
                          int first, int count) {
  for (int i = first; i < first + count; ++i) {
    std::vector<raft::Message> batch = {Msg(to, i)};
    transport->Send(&batch);
  }
  ASSERT_TRUE(WaitUntil(
      [&] { return receiver->mailbox.received().size() >= static_cast<size_t>(first + count - 1); },
      absl::Seconds(20)));
  auto got = receiver->mailbox.received();
  ASSERT_EQ(got.size(), static_cast<size_t>(first + count - 1));
  for (int i = 0; i < first + count - 1; ++i) {
    EXPECT_EQ(got[i].index(), static_cast<uint64_t>(i + 1));
  }
}

TEST(PeerTransportTest, RestartedPeerIsReachedAgain) {
  TempDir tmp;
  RecordingMailbox mailbox;
  storage::SnapshotFiles snapshots(tmp.Sub("one"));
  FaultInjection faults("");
  PeerTransport transport(TransportOptions(42), &mailbox, &snapshots, &faults);
  auto two = std::make_unique<Receiver>(42, 2, tmp.Sub("two"));
  const std::string addr = two->addr;
  transport.UpdatePeers({{2, addr}});
  SendAndExpectInOrder(&transport, two.get(), 2, 1, 100);
  two.reset();  // the peer goes away: its links close
  ASSERT_TRUE(SendUntilUnreachable(&transport, &mailbox, 2));
  // Back on the same address (a restart): messages flow again (the ones
  // queued while it was away may arrive first).
  Receiver again(42, 2, tmp.Sub("two-again"), addr);
  ASSERT_NE(again.listener, nullptr);
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::vector<raft::Message> batch = {Msg(2, 7)};
        transport.Send(&batch);
        auto got = again.mailbox.received();
        return !got.empty() && got.back().index() == 7u;
      },
      absl::Seconds(10)));
  EXPECT_TRUE(transport.Reachable(2));
  transport.Stop();
}

TEST(PeerTransportTest, BurstLargerThanTheSocketArrivesWhole) {
  TempDir tmp;
  Receiver two(42, 2, tmp.Sub("two"));
  RecordingMailbox mailbox;
  storage::SnapshotFiles snapshots(tmp.Sub("one"));
  FaultInjection faults("");
  PeerTransport::Options options = TransportOptions(42);
  options.max_batch_bytes = 256u << 10;
  PeerTransport transport(options, &mailbox, &snapshots, &faults);
  transport.UpdatePeers({{2, two.addr}});
  SendAndExpectInOrder(&transport, &two, 2, 1, 1);  // the link is up
  // 32 MiB in one go: far more than the socket buffers take, so writes end
  // part-way and the link thread finishes them; the last, small message is
  // queued while that is going on and must not wait for another Send.
  constexpr int kCount = 128;
  const std::string payload(256u << 10, 'x');
  for (int i = 2; i <= kCount; ++i) {
    raft::Message m = Msg(2, i);
    m.add_entries()->set_data(payload);
    std::vector<raft::Message> batch = {std::move(m)};
    transport.Send(&batch);
  }
  std::vector<raft::Message> last = {Msg(2, kCount + 1)};
  transport.Send(&last);
  ASSERT_TRUE(WaitUntil(
      [&] { return two.mailbox.received().size() == static_cast<size_t>(kCount + 1); },
      absl::Seconds(30)));
  auto got = two.mailbox.received();
  for (int i = 0; i <= kCount; ++i) EXPECT_EQ(got[i].index(), static_cast<uint64_t>(i + 1));
  EXPECT_EQ(got[kCount - 1].entries(0).data().size(), payload.size());
  EXPECT_EQ(mailbox.unreachable(2), 0);
  transport.Stop();
}

TEST(PeerTransportTest, LinkMeantForAnotherMemberIsRefused) {
  TempDir tmp;
  Receiver three(42, 3, tmp.Sub("three"));
  RecordingMailbox mailbox;
  storage::SnapshotFiles snapshots(tmp.Sub("one"));
  FaultInjection faults("");
  PeerTransport transport(TransportOptions(42), &mailbox, &snapshots, &faults);
  // Member 2's address points at member 3 (a stale membership).
  transport.UpdatePeers({{2, three.addr}});
  ASSERT_TRUE(SendUntilUnreachable(&transport, &mailbox, 2));
  EXPECT_TRUE(three.mailbox.received().empty());
  EXPECT_FALSE(transport.Reachable(2));
}

// Loads `cert` as a replica's peer identity (key and chain in one file, as
// StagedTlsFiles stages them) trusting `ca`.
std::unique_ptr<LinkTls> PeerTls(const TempDir& tmp, const std::string& name,
                                 const TestCert& cert, const std::string& ca) {
  const std::string identity = tmp.Sub(name + ".identity.pem");
  std::ofstream(identity) << Slurp(cert.key) << Slurp(cert.cert);
  auto tls = std::make_unique<LinkTls>();
  absl::Status s = tls->Reload(identity, ca);
  EXPECT_TRUE(s.ok()) << s;
  return tls;
}

TEST(PeerTransportTest, TlsLinkCarriesMessagesInOrder) {
  TempDir tmp;
  absl::StatusOr<TestCa> ca = TestCa::Create(tmp.Sub("ca"), "ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<TestCert> one_cert = ca->Issue("one");
  absl::StatusOr<TestCert> two_cert = ca->Issue("two");
  ASSERT_TRUE(one_cert.ok() && two_cert.ok());
  std::unique_ptr<LinkTls> two_tls = PeerTls(tmp, "two", *two_cert, ca->cert());
  std::unique_ptr<LinkTls> one_tls = PeerTls(tmp, "one", *one_cert, ca->cert());
  Receiver two(42, 2, tmp.Sub("two"), "", two_tls.get());
  RecordingMailbox mailbox;
  storage::SnapshotFiles snapshots(tmp.Sub("one"));
  FaultInjection faults("");
  PeerTransport::Options options = TransportOptions(42);
  options.link_tls = one_tls.get();
  options.max_batch_bytes = 256u << 10;
  PeerTransport transport(options, &mailbox, &snapshots, &faults);
  transport.UpdatePeers({{2, two.addr}});
  SendAndExpectInOrder(&transport, &two, 2, 1, 1);  // the link is up
  // More than the socket takes at once: partial TLS writes finish later.
  const std::string payload(256u << 10, 'x');
  for (int i = 2; i <= 64; ++i) {
    raft::Message m = Msg(2, i);
    m.add_entries()->set_data(payload);
    std::vector<raft::Message> batch = {std::move(m)};
    transport.Send(&batch);
  }
  SendAndExpectInOrder(&transport, &two, 2, 65, 100);
  EXPECT_EQ(two.mailbox.received()[10].entries(0).data(), payload);
  EXPECT_EQ(mailbox.unreachable(2), 0);
  transport.Stop();
}

TEST(PeerTransportTest, TlsLinksFromAnotherCaOrInPlaintextAreRefused) {
  TempDir tmp;
  absl::StatusOr<TestCa> ca = TestCa::Create(tmp.Sub("ca"), "ca");
  absl::StatusOr<TestCa> other = TestCa::Create(tmp.Sub("other"), "other");
  ASSERT_TRUE(ca.ok() && other.ok());
  absl::StatusOr<TestCert> two_cert = ca->Issue("two");
  absl::StatusOr<TestCert> stranger = other->Issue("stranger");
  ASSERT_TRUE(two_cert.ok() && stranger.ok());
  std::unique_ptr<LinkTls> two_tls = PeerTls(tmp, "two", *two_cert, ca->cert());
  // Trusts the right CA, but its own certificate is signed by another.
  std::unique_ptr<LinkTls> stranger_tls = PeerTls(tmp, "stranger", *stranger, ca->cert());
  Receiver two(42, 2, tmp.Sub("two"), "", two_tls.get());
  storage::SnapshotFiles snapshots(tmp.Sub("one"));
  FaultInjection faults("");
  {
    RecordingMailbox mailbox;
    PeerTransport::Options options = TransportOptions(42);
    options.link_tls = stranger_tls.get();
    PeerTransport transport(options, &mailbox, &snapshots, &faults);
    transport.UpdatePeers({{2, two.addr}});
    ASSERT_TRUE(SendUntilUnreachable(&transport, &mailbox, 2));
    transport.Stop();
  }
  {
    RecordingMailbox mailbox;
    PeerTransport transport(TransportOptions(42), &mailbox, &snapshots, &faults);  // plaintext
    transport.UpdatePeers({{2, two.addr}});
    ASSERT_TRUE(SendUntilUnreachable(&transport, &mailbox, 2));
    transport.Stop();
  }
  EXPECT_TRUE(two.mailbox.received().empty());
}

}  // namespace
}  // namespace synod::server
