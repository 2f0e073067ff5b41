// End-to-end tests of TLS faults (issue 24): certificates from the wrong CA
// or expired, optional client certificates, a peer of another cluster, peer
// certificates rotated while serving, and a member joining over peer TLS.
// Real replicas (test_cluster.h) with certificates from throw-away CAs
// (tests/testing/test_certs.h).
//
// Each refusal is checked next to a control that differs only in the
// certificate (or in the client's verification), so a refusal for any
// other reason (a port that does not answer, a replica that is down) fails
// the control instead of passing the test.
#include <signal.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "gtest/gtest.h"
#include "synod/v1/peer.grpc.pb.h"
#include "tests/e2e/membership_calls.h"
#include "tests/e2e/synodctl_run.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/http_exchange.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/wait.h"

namespace synod::e2e {
namespace {

using ::synod::testing::TempDir;
using ::synod::testing::TestCa;
using ::synod::testing::TestCert;
using ::synod::testing::WaitUntil;

void CopyFile(const std::string& from, const std::string& to) {
  std::ofstream(to, std::ios::binary | std::ios::trunc) << Slurp(from);
}

void Concatenate(const std::string& a, const std::string& b, const std::string& to) {
  std::ofstream(to, std::ios::binary | std::ios::trunc) << Slurp(a) << Slurp(b);
}

// How many times `text` occurs in member `id`'s log.
int LogCount(TestCluster& c, int id, const std::string& text) {
  const std::string log = Slurp(c.log_path(id));
  int n = 0;
  for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
  return n;
}

// TLS credentials trusting `ca`, presenting `client` when given.
std::shared_ptr<grpc::ChannelCredentials> Credentials(const std::string& ca,
                                                      const TestCert* client = nullptr) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = Slurp(ca);
  if (client != nullptr) {
    o.pem_cert_chain = Slurp(client->cert);
    o.pem_private_key = Slurp(client->key);
  }
  return grpc::SslCredentials(o);
}

// TLS credentials that accept any server certificate (the control for the
// client's own verification), presenting `client` when given.
std::shared_ptr<grpc::ChannelCredentials> UnverifiedCredentials(const TestCert* client = nullptr) {
  grpc::experimental::TlsChannelCredentialsOptions o;
  if (client != nullptr) {
    o.set_certificate_provider(std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
        std::vector<grpc::experimental::IdentityKeyCertPair>{
            {Slurp(client->key), Slurp(client->cert)}}));
    o.watch_identity_key_cert_pairs();
  }
  o.set_verify_server_certs(false);
  o.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  o.set_check_call_host(false);
  return grpc::experimental::TlsCredentials(o);
}

// One Status call on a fresh channel: whether the replica at `addr` let it
// through. A failed handshake fails the call at once (no wait_for_ready).
bool StatusCallWorks(const std::string& addr,
                     const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  auto stub = v1::Cluster::NewStub(grpc::CreateChannel(addr, credentials));
  v1::StatusResponse resp;
  return stub->Status(Ctx(absl::Seconds(3)).get(), v1::StatusRequest(), &resp).ok();
}

// Whether a TLS handshake with `credentials` to the peer port at `addr`
// completes: one Peer call on a fresh channel, which the replica then
// refuses for its content (cluster 0), never UNAVAILABLE.
bool PeerHandshakeWorks(const std::string& addr,
                        const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  auto stub = v1::Peer::NewStub(grpc::CreateChannel(addr, credentials));
  v1::KeepAliveBatchRequest req;
  v1::KeepAliveBatchResponse resp;
  const grpc::Status s = stub->KeepAliveBatch(Ctx(absl::Seconds(3)).get(), req, &resp);
  return s.error_code() != grpc::StatusCode::UNAVAILABLE &&
         s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED;
}

// synod_peer_refused_total{what="<what>"} in member `id`'s /metrics; -1 if
// the scrape or the line is missing.
double RefusedCounter(TestCluster& c, int id, const std::string& what) {
  int port = 0;
  const std::string& addr = c.metrics_addr(id);
  if (!absl::SimpleAtoi(addr.substr(addr.rfind(':') + 1), &port)) return -1;
  const std::string response =
      testing::HttpExchange(port, "GET /metrics HTTP/1.0\r\n\r\n", absl::Seconds(5));
  const std::string prefix = absl::StrCat("synod_peer_refused_total{what=\"", what, "\"} ");
  for (absl::string_view line : absl::StrSplit(response, '\n')) {
    if (!absl::ConsumePrefix(&line, prefix)) continue;
    double value = 0;
    if (absl::SimpleAtod(absl::StripAsciiWhitespace(line), &value)) return value;
  }
  return -1;
}

// The CAs and certificates of one test: `ca` signs the replicas' and the
// clients' certificates; `other` is a CA nobody in the cluster trusts.
struct Certs {
  Certs() {
    absl::StatusOr<TestCa> made = TestCa::Create(tmp.Sub("ca"), "synod-test-ca");
    EXPECT_TRUE(made.ok()) << made.status();
    ca.emplace(*std::move(made));
    absl::StatusOr<TestCa> other_made = TestCa::Create(tmp.Sub("other"), "other-ca");
    EXPECT_TRUE(other_made.ok()) << other_made.status();
    other.emplace(*std::move(other_made));
    server = Made(ca->Issue("server"));
    client = Made(ca->Issue("client"));
    stranger = Made(other->Issue("stranger"));
    expired_server = Made(ca->IssueExpired("expired-server"));
    expired_client = Made(ca->IssueExpired("expired-client"));
  }
  static TestCert Made(absl::StatusOr<TestCert> cert) {
    EXPECT_TRUE(cert.ok()) << cert.status();
    return cert.ok() ? *cert : TestCert{};
  }
  std::vector<std::string> ClientPortFlags(const TestCert& cert, const std::string& auth) const {
    return {"--tls_cert=" + cert.cert, "--tls_key=" + cert.key, "--tls_client_ca=" + ca->cert(),
            "--tls_client_auth=" + auth};
  }

  TempDir tmp;
  std::optional<TestCa> ca;
  std::optional<TestCa> other;
  TestCert server;
  TestCert client;
  TestCert stranger;
  TestCert expired_server;
  TestCert expired_client;
};

TEST(TlsFaultsE2eTest, AClientOfAnotherCaIsRefusedEitherWay) {
  Certs certs;
  TestCluster::Options o;
  o.size = 1;
  o.extra_flags = certs.ClientPortFlags(certs.server, "require");
  o.credentials = Credentials(certs.ca->cert(), &certs.client);
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok());
  const std::string addr = c.client_addr(1);
  ASSERT_TRUE(StatusCallWorks(addr, Credentials(certs.ca->cert(), &certs.client)));

  // The client trusts another CA: it refuses the replica's certificate.
  // The same client without its own verification gets through.
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(certs.other->cert(), &certs.client)));
  EXPECT_TRUE(StatusCallWorks(addr, UnverifiedCredentials(&certs.client)));

  // The client's certificate is another CA's: the replica refuses it,
  // whether or not the client verifies the replica.
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(certs.ca->cert(), &certs.stranger)));
  EXPECT_FALSE(StatusCallWorks(addr, UnverifiedCredentials(&certs.stranger)));
  EXPECT_TRUE(StatusCallWorks(addr, Credentials(certs.ca->cert(), &certs.client)));
}

TEST(TlsFaultsE2eTest, AnExpiredServerCertificateIsRefused) {
  Certs certs;
  TestCluster::Options o;
  o.size = 1;
  // The client port checks no dates at start-up (only the peer port's
  // certificate is verified then): the replica serves the expired one.
  o.extra_flags = certs.ClientPortFlags(certs.expired_server, "none");
  o.credentials = UnverifiedCredentials();
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << c.LogTail(1);
  const std::string addr = c.client_addr(1);
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(certs.ca->cert())));
  EXPECT_TRUE(StatusCallWorks(addr, UnverifiedCredentials()));
}

TEST(TlsFaultsE2eTest, AnExpiredClientCertificateIsRefused) {
  Certs certs;
  TestCluster::Options o;
  o.size = 1;
  o.extra_flags = certs.ClientPortFlags(certs.server, "require");
  o.credentials = Credentials(certs.ca->cert(), &certs.client);
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << c.LogTail(1);
  const std::string addr = c.client_addr(1);
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(certs.ca->cert(), &certs.expired_client)));
  EXPECT_TRUE(StatusCallWorks(addr, Credentials(certs.ca->cert(), &certs.client)));
}

TEST(TlsFaultsE2eTest, RequestedClientCertificatesAreVerifiedWhenSent) {
  Certs certs;
  TestCluster::Options o;
  o.size = 1;
  o.extra_flags = certs.ClientPortFlags(certs.server, "request");
  o.credentials = Credentials(certs.ca->cert());
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << c.LogTail(1);
  ASSERT_NE(c.WaitForLeader(absl::Seconds(20)), 0);
  const std::string addr = c.client_addr(1);
  // Without a certificate, and with one of the right CA: served.
  EXPECT_TRUE(StatusCallWorks(addr, Credentials(certs.ca->cert())));
  EXPECT_TRUE(StatusCallWorks(addr, Credentials(certs.ca->cert(), &certs.client)));
  EXPECT_EQ(CreateNode(c.tree(1), "/requested", "x"), v1::OK);
  // A certificate the client CA did not sign, or one that expired: refused.
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(certs.ca->cert(), &certs.stranger)));
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(certs.ca->cert(), &certs.expired_client)));
}

TEST(TlsFaultsE2eTest, APeerOfAnotherClusterCannotTakePartOrJoin) {
  Certs certs;
  TestCluster::Options o;
  o.metrics = true;
  o.extra_flags = {"--peer_tls_cert=" + certs.server.cert, "--peer_tls_key=" + certs.server.key,
                   "--peer_tls_ca=" + certs.ca->cert()};
  // Member 3 (founding) and member 4 (joining) hold another CA's
  // certificate and trust that CA (a replica refuses to start with a peer
  // certificate its own --peer_tls_ca did not sign).
  const std::vector<std::string> stranger = {"--peer_tls_cert=" + certs.stranger.cert,
                                             "--peer_tls_key=" + certs.stranger.key,
                                             "--peer_tls_ca=" + certs.other->cert()};
  o.member_flags[3] = stranger;
  o.member_flags[4] = stranger;
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int leader = c.WaitForLeader(absl::Seconds(20), {1, 2});
  ASSERT_NE(leader, 0) << Logs(c);
  ASSERT_EQ(CreateNode(c.tree(leader), "/n", "x"), v1::OK);

  // Member 3 campaigns: it dials 1 and 2, which refuse its links and count
  // them.
  for (int id : {1, 2}) {
    EXPECT_TRUE(
        WaitUntil([&] { return RefusedCounter(c, id, "raft_link") > 0; }, absl::Seconds(20)))
        << c.LogTail(id);
  }
  // Member 4 is added (a learner) and started with --join.
  const int four = c.AddMemberSlot();
  ASSERT_EQ(Add(c, leader, four), v1::OK) << Logs(c);
  ASSERT_TRUE(c.Start(four).ok()) << Logs(c, 1);
  // The leader's links to it fail the handshake on both ends.
  EXPECT_TRUE(WaitUntil(
      [&] {
        return LogCount(c, leader, absl::StrCat("raft link to member ", four)) > 0 &&
               RefusedCounter(c, four, "raft_link") > 0;
      },
      absl::Seconds(20)))
      << Logs(c, 1);

  // The cluster goes on serving; neither stranger gets an entry.
  uint64_t revision = 0;
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(
        CreateNode(c.tree(leader), absl::StrCat("/after", i), "x", absl::Seconds(5), &revision),
        v1::OK)
        << Logs(c, 1);
  }
  ASSERT_TRUE(c.WaitForApplied(revision, absl::Seconds(10), {1, 2}));
  for (int id : {3, four}) {
    absl::StatusOr<v1::StatusResponse> st = c.Status(id);
    ASSERT_TRUE(st.ok()) << id;
    EXPECT_LT(st->applied_index(), revision) << "member " << id << "\n" << c.LogTail(id);
  }
  EXPECT_EQ(c.WaitForLeader(absl::Seconds(5), {1, 2}), leader);
}

// Each member's peer files are its own copies, replaced by the test.
struct PeerFiles {
  std::string cert;
  std::string key;
  std::string ca;
  void Install(const TestCert& from, const std::string& ca_from) const {
    CopyFile(from.cert, cert);
    CopyFile(from.key, key);
    CopyFile(ca_from, ca);
  }
};

TEST(TlsFaultsE2eTest, PeerCertificatesRotateOnSighupWhileServing) {
  Certs certs;
  absl::StatusOr<TestCa> next_ca = TestCa::Create(certs.tmp.Sub("next"), "next-ca");
  ASSERT_TRUE(next_ca.ok()) << next_ca.status();
  const std::string both_cas = certs.tmp.Sub("both-cas.crt");
  Concatenate(certs.ca->cert(), next_ca->cert(), both_cas);

  TestCluster::Options o;
  std::vector<PeerFiles> files(4);
  for (int id = 1; id <= 3; ++id) {
    files[id] = {certs.tmp.Sub(absl::StrCat("peer", id, ".crt")),
                 certs.tmp.Sub(absl::StrCat("peer", id, ".key")),
                 certs.tmp.Sub(absl::StrCat("peer-ca", id, ".crt"))};
    files[id].Install(Certs::Made(certs.ca->Issue(absl::StrCat("peer", id, "-a"))),
                      certs.ca->cert());
    o.member_flags[id] = {"--peer_tls_cert=" + files[id].cert, "--peer_tls_key=" + files[id].key,
                          "--peer_tls_ca=" + files[id].ca};
  }
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  // Writes `n` new nodes through the leader among the running members;
  // returns the revision of the last, or 0 if one failed.
  int written = 0;
  auto write_some = [&](int n) -> uint64_t {
    const std::vector<int> running = c.RunningIds();
    const std::set<int> among(running.begin(), running.end());
    int at = c.WaitForLeader(absl::Seconds(10), among);
    uint64_t revision = 0;
    for (int i = 0; i < n; ++i) {
      auto create = [&](int id) {
        return CreateNode(c.tree(id), absl::StrCat("/w", written), "x", absl::Seconds(5),
                          &revision);
      };
      v1::ErrorCode code = at != 0 ? create(at) : v1::NOT_LEADER;
      if (code == v1::NOT_LEADER || code == v1::UNAVAILABLE) {
        code = OnLeader(c, among, [&](int id) {
          at = id;
          return create(id);
        });
      }
      if (code != v1::OK) return 0;
      ++written;
    }
    return revision;
  };
  // Every member reloads (one more "reloaded" line in its log) and keeps
  // serving writes.
  std::vector<int> reloads(4, 0);
  auto sighup_all = [&] {
    for (int id = 1; id <= 3; ++id) {
      c.Signal(id, SIGHUP);
      ++reloads[id];
    }
    for (int id = 1; id <= 3; ++id) {
      EXPECT_TRUE(
          WaitUntil([&] { return LogCount(c, id, "peer port TLS files reloaded") >= reloads[id]; },
                    absl::Seconds(10)))
          << c.LogTail(id);
    }
  };
  ASSERT_NE(write_some(10), 0u) << Logs(c);

  // 1. A new certificate from the same CA.
  for (int id = 1; id <= 3; ++id) {
    files[id].Install(Certs::Made(certs.ca->Issue(absl::StrCat("peer", id, "-b"))),
                      certs.ca->cert());
  }
  sighup_all();
  ASSERT_NE(write_some(10), 0u) << Logs(c);

  // 2. The new CA: first trusted by all next to the old one, then the
  // certificates it signed, then the old CA dropped.
  for (int id = 1; id <= 3; ++id) CopyFile(both_cas, files[id].ca);
  sighup_all();
  ASSERT_NE(write_some(10), 0u) << Logs(c);
  for (int id = 1; id <= 3; ++id) {
    files[id].Install(Certs::Made(next_ca->Issue(absl::StrCat("peer", id, "-c"))), both_cas);
  }
  sighup_all();
  ASSERT_NE(write_some(10), 0u) << Logs(c);
  for (int id = 1; id <= 3; ++id) CopyFile(next_ca->cert(), files[id].ca);
  sighup_all();
  ASSERT_NE(write_some(10), 0u) << Logs(c);

  // Every peer port now presents the new CA's certificate and takes the
  // new CA's client certificates (gRPC re-reads the staged files within a
  // second), and refuses the old CA's.
  const TestCert next_client = Certs::Made(next_ca->Issue("probe-next"));
  for (int id = 1; id <= 3; ++id) {
    EXPECT_TRUE(WaitUntil(
        [&] {
          return PeerHandshakeWorks(c.peer_addr(id), Credentials(next_ca->cert(), &next_client));
        },
        absl::Seconds(10), absl::Milliseconds(100)))
        << c.LogTail(id);
    EXPECT_FALSE(PeerHandshakeWorks(c.peer_addr(id), Credentials(certs.ca->cert(), &certs.client)));
  }

  // 3. A bad new certificate on the leader: another CA's, then an expired
  // one of the new CA. Each is refused loudly; the old one stays.
  leader = c.WaitForLeader(absl::Seconds(10));
  ASSERT_NE(leader, 0) << Logs(c);
  const TestCert expired_next = Certs::Made(next_ca->IssueExpired("peer-expired"));
  int refused = 0;
  for (const TestCert* bad : std::vector<const TestCert*>{&certs.stranger, &expired_next}) {
    CopyFile(bad->cert, files[leader].cert);
    CopyFile(bad->key, files[leader].key);
    c.Signal(leader, SIGHUP);
    ++refused;
    EXPECT_TRUE(WaitUntil(
        [&] { return LogCount(c, leader, "peer port TLS files NOT reloaded") >= refused; },
        absl::Seconds(10)))
        << c.LogTail(leader);
    ASSERT_NE(write_some(10), 0u) << Logs(c);
  }
  EXPECT_TRUE(PeerHandshakeWorks(c.peer_addr(leader), Credentials(next_ca->cert(), &next_client)));

  // New Raft links use what was reloaded: each follower in turn restarts
  // (from the rotated files, trusting only the new CA) and is caught up by
  // the leader over new TLS sessions both ways, which only the certificate
  // the leader reloaded (and kept through the bad ones) lets through.
  for (int id = 1; id <= 3; ++id) {
    if (id == leader) continue;
    ASSERT_EQ(c.Stop(id), "exit 0");
    const uint64_t revision = write_some(10);
    ASSERT_NE(revision, 0u) << Logs(c);
    ASSERT_TRUE(c.Start(id).ok()) << Logs(c);
    ASSERT_TRUE(c.WaitForApplied(revision, absl::Seconds(20))) << Logs(c);
  }
}

// A fourth member joins a cluster serving TLS on both ports, with the peer
// certificates signed by `peer_ca` (the client port's CA or one of their
// own), and is caught up by a snapshot over the Peer service and the log
// over Raft links, all mutual TLS.
void JoinOverPeerTls(const Certs& certs, const TestCa& peer_ca) {
  const TestCert peer = Certs::Made(peer_ca.Issue("peer"));
  TestCluster::Options o;
  o.snapshot_threshold = 50;  // the newcomer is caught up by a snapshot
  o.extra_flags = certs.ClientPortFlags(certs.server, "require");
  for (const std::string& f : {"--peer_tls_cert=" + peer.cert, "--peer_tls_key=" + peer.key,
                               "--peer_tls_ca=" + peer_ca.cert()}) {
    o.extra_flags.push_back(f);
  }
  o.credentials = Credentials(certs.ca->cert(), &certs.client);
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  for (int i = 0; i < 120; ++i) {
    ASSERT_EQ(CreateNode(c.tree(leader), absl::StrCat("/j", i), "x"), v1::OK) << Logs(c);
  }
  const int four = c.AddMemberSlot();
  ASSERT_EQ(Add(c, leader, four), v1::OK) << Logs(c);
  ASSERT_TRUE(c.Start(four).ok()) << Logs(c, 1);
  ASSERT_NE(Digest(c, {1, 2, 3, four}), 0u) << Logs(c, 1);
  std::string data;
  ASSERT_EQ(GetNode(c.tree(four), "/j119", &data, v1::SERIALIZABLE), v1::OK);
  ASSERT_TRUE(WaitUntil([&] { return Promote(c, leader, four) == v1::OK; }, absl::Seconds(20)))
      << Logs(c, 1);
  ASSERT_EQ(CreateNode(c.tree(leader), "/joined", "x"), v1::OK) << Logs(c, 1);
  ASSERT_EQ(GetNode(c.tree(four), "/joined", &data), v1::OK) << Logs(c, 1);
}

TEST(TlsFaultsE2eTest, AMemberJoinsOverPeerTls) {
  Certs certs;
  JoinOverPeerTls(certs, *certs.ca);
}

TEST(TlsFaultsE2eTest, AMemberJoinsOverPeerTlsWithAPeerCaOfItsOwn) {
  Certs certs;
  absl::StatusOr<TestCa> peer_ca = TestCa::Create(certs.tmp.Sub("peer-ca"), "peer-ca");
  ASSERT_TRUE(peer_ca.ok()) << peer_ca.status();
  JoinOverPeerTls(certs, *peer_ca);
}

}  // namespace
}  // namespace synod::e2e
