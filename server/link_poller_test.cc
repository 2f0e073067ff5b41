// LinkPoller over socket pairs: the test writes what member 2 sends on its
// Raft link; the poller delivers it into a real RawNode (member 1).
#include "server/link_poller.h"

#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/link_tls.h"
#include "server/raw_node_testing.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certs.h"

namespace synod::server {
namespace {

using testing::AppendMsg;
using testing::EntryAt;
using testing::TestCore;

constexpr uint64_t kCluster = 7;

class LinkPollerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    poller_ = std::make_unique<LinkPoller>(
        LinkPoller::Options{kCluster, 1, 1024},
        LinkPoller::Hooks{[this](raft::NodeId from, std::vector<raft::Message> messages) {
                            for (raft::Message& m : messages) {
                              EXPECT_EQ(from, 2u);
                              delivered_.push_back(m);
                              steps_.push_back(core_.node()->Step(std::move(m)));
                            }
                          },
                          [this](raft::NodeId from) { refused_.push_back(from); }});
    ASSERT_TRUE(poller_->Init().ok());
  }
  void TearDown() override {
    for (int fd : ours_) ::close(fd);
  }

  // A link from member 2 handed to the poller; returns the sender's end.
  int Link() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    poller_->Add(fds[0], 2, nullptr);
    ours_.push_back(fds[1]);
    return fds[1];
  }
  static void Send(int fd, const std::string& bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  static std::string Frame(raft::NodeId from, std::vector<raft::Message> messages) {
    v1::RaftBatch batch;
    batch.set_cluster_id(kCluster);
    batch.set_from(from);
    for (raft::Message& m : messages) *batch.add_messages() = std::move(m);
    std::string out;
    AppendLinkFrame(batch, &out);
    return out;
  }
  // True once the peer closed its end.
  static bool Closed(int fd) {
    char c;
    return ::recv(fd, &c, 1, MSG_DONTWAIT) == 0;
  }

  TestCore core_{1, {1, 2}};
  std::unique_ptr<LinkPoller> poller_;
  std::vector<raft::Message> delivered_;
  std::vector<absl::Status> steps_;
  std::vector<raft::NodeId> refused_;
  std::vector<int> ours_;
};

TEST_F(LinkPollerTest, FramesAreDeliveredInOrderIntoTheCore) {
  const int fd = Link();
  const std::string frames = Frame(2, {AppendMsg(2, 1, 2, 1, 1, {EntryAt(2, 2)}, 1)}) +
                             Frame(2, {AppendMsg(2, 1, 2, 2, 2, {EntryAt(2, 3)}, 3)});
  // Split mid-frame: the poller reassembles.
  Send(fd, frames.substr(0, 7));
  poller_->Wait(-1);
  EXPECT_TRUE(delivered_.empty());
  Send(fd, frames.substr(7));
  poller_->Wait(-1);
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(delivered_[0].index(), 1u);
  EXPECT_EQ(delivered_[1].index(), 2u);
  for (const absl::Status& s : steps_) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(core_.node()->soft_state().leader, 2u);
  EXPECT_EQ(core_.Drain().committed.size(), 2u);
  EXPECT_EQ(poller_->links(), 1u);
  EXPECT_TRUE(refused_.empty());
}

// Loads a peer identity for `name` (key and chain in one file) issued by `ca`.
std::unique_ptr<LinkTls> PeerTls(const synod::testing::TempDir& tmp,
                                 const synod::testing::TestCa& ca, const std::string& name) {
  absl::StatusOr<synod::testing::TestCert> cert = ca.Issue(name);
  EXPECT_TRUE(cert.ok()) << cert.status();
  if (!cert.ok()) return nullptr;
  const std::string identity = tmp.Sub(name + ".identity.pem");
  {
    std::ifstream key(cert->key);
    std::ifstream chain(cert->cert);
    std::ofstream out(identity);
    out << key.rdbuf() << chain.rdbuf();
  }
  auto tls = std::make_unique<LinkTls>();
  absl::Status s = tls->Reload(identity, ca.cert());
  EXPECT_TRUE(s.ok()) << s;
  return tls;
}

// The listener reads the hello through the link's TLS session; with read
// ahead, OpenSSL may take the frames that followed it off the socket too.
// The poller must read what the session holds when it adopts the link: the
// socket has nothing left to wake it.
TEST_F(LinkPollerTest, TlsFramesReadAheadBeforeTheHandOverAreDelivered) {
  synod::testing::TempDir tmp;
  absl::StatusOr<synod::testing::TestCa> ca = synod::testing::TestCa::Create(tmp.Sub("ca"), "ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  std::unique_ptr<LinkTls> one_tls = PeerTls(tmp, *ca, "one");
  std::unique_ptr<LinkTls> two_tls = PeerTls(tmp, *ca, "two");
  ASSERT_TRUE(one_tls != nullptr && two_tls != nullptr);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  ours_.push_back(fds[1]);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<LinkTlsSession>> receiver = absl::UnknownError("not run");
  std::thread accept([&] { receiver = LinkTlsSession::Accept(*one_tls, fds[0], deadline, -1); });
  absl::StatusOr<std::unique_ptr<LinkTlsSession>> sender =
      LinkTlsSession::Connect(*two_tls, fds[1], "127.0.0.1", deadline, -1);
  accept.join();
  ASSERT_TRUE(sender.ok()) << sender.status();
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  // Member 2 sends its hello and two frames, each its own TLS record,
  // before member 1 reads anything.
  const std::string hello = EncodeLinkHello(LinkHello{kCluster, 2, 1});
  const std::string first = Frame(2, {AppendMsg(2, 1, 2, 1, 1, {EntryAt(2, 2)}, 1)});
  const std::string second = Frame(2, {AppendMsg(2, 1, 2, 2, 2, {EntryAt(2, 3)}, 3)});
  ASSERT_TRUE((*sender)->WriteExactly(hello.data(), hello.size(), deadline, -1));
  ASSERT_TRUE((*sender)->WriteExactly(first.data(), first.size(), deadline, -1));
  ASSERT_TRUE((*sender)->WriteExactly(second.data(), second.size(), deadline, -1));
  std::string got(kLinkHelloBytes, '\0');
  ASSERT_TRUE((*receiver)->ReadExactly(got.data(), got.size(), deadline, -1));
  ASSERT_EQ(got, hello);
  poller_->Add(fds[0], 2, *std::move(receiver));
  // Nothing more arrives on the socket; bounded in count, not in time.
  for (int i = 0; i < 20 && delivered_.size() < 2; ++i) poller_->Wait(100);
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(delivered_[0].index(), 1u);
  EXPECT_EQ(delivered_[1].index(), 2u);
  EXPECT_EQ(poller_->links(), 1u);
  EXPECT_TRUE(refused_.empty());
}

TEST_F(LinkPollerTest, WakeEndsAWait) {
  Link();
  poller_->Wake();
  poller_->Wait(-1);  // returns: the eventfd is readable
  EXPECT_TRUE(delivered_.empty());
}

TEST_F(LinkPollerTest, ABatchThatBreaksTheHelloClosesTheLinkAsRefused) {
  const int fd = Link();
  // Sent by 3 on 2's link: none of its messages is delivered.
  Send(fd, Frame(3, {AppendMsg(3, 1, 2, 1, 1, {}, 1)}));
  poller_->Wait(-1);
  EXPECT_TRUE(delivered_.empty());
  EXPECT_EQ(refused_, (std::vector<raft::NodeId>{2}));
  EXPECT_EQ(poller_->links(), 0u);
  EXPECT_TRUE(Closed(fd));
}

TEST_F(LinkPollerTest, AnEndedOrOversizedLinkIsClosedNotRefused) {
  const int ended = Link();
  const int big = Link();
  ::shutdown(ended, SHUT_WR);
  Send(big, Frame(2, {AppendMsg(2, 1, 2, 1, 1, {EntryAt(2, 2, std::string(2000, 'x'))}, 1)}));
  while (poller_->links() > 0) poller_->Wait(-1);
  EXPECT_TRUE(delivered_.empty());
  EXPECT_TRUE(refused_.empty());
  EXPECT_TRUE(Closed(big));
}

TEST_F(LinkPollerTest, CloseAllClosesEveryLink) {
  const int a = Link();
  const int b = Link();
  poller_->CloseAll();
  EXPECT_EQ(poller_->links(), 0u);
  EXPECT_TRUE(Closed(a));
  EXPECT_TRUE(Closed(b));
}

}  // namespace
}  // namespace synod::server
