// End-to-end tests of TLS on the client port and mutual TLS on the peer
// port (issue 24): real replicas with certificates from a throw-away CA
// (tests/testing/test_certs.h).
#include <signal.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "synod/client.h"
#include "tests/e2e/synodctl_run.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/subprocess.h"
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

// One Status call on a fresh channel: whether the replica at `addr` let it
// through.
bool StatusCallWorks(const std::string& addr,
                     const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  auto stub = v1::Cluster::NewStub(grpc::CreateChannel(addr, credentials));
  v1::StatusRequest req;
  v1::StatusResponse resp;
  return stub->Status(Ctx(absl::Seconds(3)).get(), req, &resp).ok();
}

// The certificates of one test: a CA, the replicas' certificate (one for
// all: they all serve 127.0.0.1), a client certificate, and a CA and client
// certificate the replicas do not trust.
struct Certs {
  Certs() {
    absl::StatusOr<TestCa> made = TestCa::Create(tmp.Sub("ca"), "synod-test-ca");
    EXPECT_TRUE(made.ok()) << made.status();
    ca.emplace(*std::move(made));
    absl::StatusOr<TestCa> other_made = TestCa::Create(tmp.Sub("other"), "other-ca");
    EXPECT_TRUE(other_made.ok()) << other_made.status();
    other.emplace(*std::move(other_made));
    server = *ca->Issue("server");
    client = *ca->Issue("client");
    stranger = *other->Issue("stranger");
  }
  std::vector<std::string> ServerFlags(const std::string& auth) const {
    return {"--tls_cert=" + server.cert, "--tls_key=" + server.key,
            "--tls_client_ca=" + ca->cert(), "--tls_client_auth=" + auth};
  }
  // Mutual TLS between replicas, with `cert` (one for all: they all listen
  // on 127.0.0.1).
  std::vector<std::string> PeerFlags(const TestCert& cert) const {
    return {"--peer_tls_cert=" + cert.cert, "--peer_tls_key=" + cert.key,
            "--peer_tls_ca=" + ca->cert()};
  }

  TempDir tmp;
  std::optional<TestCa> ca;
  std::optional<TestCa> other;
  TestCert server;
  TestCert client;
  TestCert stranger;
};

TEST(TlsE2eTest, ATlsClusterServesWritesAndReads) {
  Certs certs;
  TestCluster::Options o;
  o.extra_flags = certs.ServerFlags("require");
  for (const std::string& f : certs.PeerFlags(certs.server)) o.extra_flags.push_back(f);
  // Small snapshots: a lagging member gets one over the Peer service (TLS).
  o.snapshot_threshold = 50;
  o.credentials = Credentials(certs.ca->cert(), &certs.client);
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok());
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0);
  ASSERT_EQ(CreateNode(c.tree(leader), "/tls", "over tls"), v1::OK);
  // A member that misses writes is caught up with a snapshot.
  const int lagging = leader == 1 ? 2 : 1;
  c.Stop(lagging);
  for (int i = 0; i < 120; ++i) {
    ASSERT_EQ(CreateNode(c.tree(leader), absl::StrCat("/w", i), "x"), v1::OK);
  }
  uint64_t last = 0;
  ASSERT_EQ(SetNode(c.tree(leader), "/tls", "over tls", absl::Seconds(5), &last), v1::OK);
  ASSERT_TRUE(c.Start(lagging).ok());
  ASSERT_TRUE(c.WaitForApplied(last, absl::Seconds(30))) << c.LogTail(lagging);
  for (int id = 1; id <= c.size(); ++id) {
    std::string data;
    ASSERT_EQ(GetNode(c.tree(id), "/tls", &data), v1::OK) << "member " << id;
    EXPECT_EQ(data, "over tls");
  }
  // The client library, with the same files.
  Client::Options co;
  co.endpoints = {c.client_addr(1), c.client_addr(2), c.client_addr(3)};
  co.cacert = certs.ca->cert();
  co.cert = certs.client.cert;
  co.key = certs.client.key;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(co);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Set("/tls", "from the library").ok());
  absl::StatusOr<GetResult> got = (*client)->Get("/tls");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->data, "from the library");
}

TEST(TlsE2eTest, ClientsWithTheWrongCaOrNoRequiredCertificateAreRefused) {
  Certs certs;
  TestCluster::Options o;
  o.size = 1;
  o.extra_flags = certs.ServerFlags("require");
  o.credentials = Credentials(certs.ca->cert(), &certs.client);
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok());
  const std::string addr = c.client_addr(1);
  EXPECT_TRUE(StatusCallWorks(addr, Credentials(certs.ca->cert(), &certs.client)));
  // The replica's certificate is not signed by the CA this client trusts.
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(certs.other->cert(), &certs.client)));
  // No client certificate, though the replica requires one.
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(certs.ca->cert())));
  // A client certificate from a CA the replica does not trust.
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(certs.ca->cert(), &certs.stranger)));
  // Plaintext.
  EXPECT_FALSE(StatusCallWorks(addr, grpc::InsecureChannelCredentials()));
  // The client library with the wrong CA: its calls fail.
  Client::Options co;
  co.endpoints = {addr};
  co.cacert = certs.other->cert();
  co.cert = certs.client.cert;
  co.key = certs.client.key;
  co.request_timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(co);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_FALSE((*client)->Get("/").ok());
}

TEST(TlsE2eTest, SynodctlReachesATlsClusterWithItsTlsFlags) {
  Certs certs;
  TestCluster::Options o;
  o.size = 1;
  o.extra_flags = certs.ServerFlags("require");
  o.credentials = Credentials(certs.ca->cert(), &certs.client);
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok());
  ASSERT_NE(c.WaitForLeader(absl::Seconds(20)), 0);
  const std::string endpoints = "--endpoints=" + c.client_addr(1);
  const std::vector<std::string> tls = {"--cacert=" + certs.ca->cert(),
                                        "--cert=" + certs.client.cert,
                                        "--key=" + certs.client.key};
  auto with_tls = [&](std::vector<std::string> command) {
    std::vector<std::string> args = {endpoints, "--timeout=10s"};
    args.insert(args.end(), tls.begin(), tls.end());
    args.insert(args.end(), command.begin(), command.end());
    return args;
  };
  CtlRun create = RunSynodctl(with_tls({"create", "/ctl", "by synodctl"}), certs.tmp.Sub("create"));
  ASSERT_EQ(create.status, "exit 0") << create.output;
  CtlRun get = RunSynodctl(with_tls({"get", "/ctl"}), certs.tmp.Sub("get"));
  ASSERT_EQ(get.status, "exit 0") << get.output;
  EXPECT_NE(get.output.find("by synodctl"), std::string::npos) << get.output;

  // Without the TLS flags synodctl speaks plaintext, which the replica
  // refuses: a non-zero exit and an error that says the replica is
  // unreachable, not a hang or a crash.
  CtlRun plain = RunSynodctl({endpoints, "--timeout=3s", "get", "/ctl"}, certs.tmp.Sub("plain"));
  EXPECT_NE(plain.status, "exit 0") << plain.output;
  EXPECT_NE(plain.status, "timeout") << plain.output;
  EXPECT_EQ(plain.status.rfind("exit ", 0), 0u) << plain.status << plain.output;
  EXPECT_NE(plain.output.find("Error: UNAVAILABLE"), std::string::npos) << plain.output;
  EXPECT_EQ(plain.output.find("by synodctl"), std::string::npos) << plain.output;
}

TEST(TlsE2eTest, CertificatesReloadOnSighupWhileServing) {
  Certs certs;
  absl::StatusOr<TestCa> next_ca = TestCa::Create(certs.tmp.Sub("next"), "next-ca");
  ASSERT_TRUE(next_ca.ok()) << next_ca.status();
  absl::StatusOr<TestCert> next = next_ca->Issue("server-next");
  ASSERT_TRUE(next.ok());
  // The replica reads the files it was started with: copies the test
  // replaces.
  const std::string cert = certs.tmp.Sub("live.crt");
  const std::string key = certs.tmp.Sub("live.key");
  CopyFile(certs.server.cert, cert);
  CopyFile(certs.server.key, key);
  TestCluster::Options o;
  o.size = 1;
  o.extra_flags = {"--tls_cert=" + cert, "--tls_key=" + key};
  o.credentials = Credentials(certs.ca->cert());
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok());
  ASSERT_NE(c.WaitForLeader(absl::Seconds(20)), 0);
  ASSERT_EQ(CreateNode(c.tree(1), "/n", "0"), v1::OK);
  const std::string addr = c.client_addr(1);

  // A certificate without its key: refused, loudly; the old one stays.
  CopyFile(next->cert, cert);
  c.Signal(1, SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return Slurp(c.log_path(1)).find("NOT reloaded") !=
                                     std::string::npos; },
                        absl::Seconds(10)));
  EXPECT_TRUE(StatusCallWorks(addr, Credentials(certs.ca->cert())));
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(next_ca->cert())));
  ASSERT_EQ(SetNode(c.tree(1), "/n", "1"), v1::OK);

  // Both files: new connections get the new certificate; the connection
  // that was open goes on serving.
  CopyFile(next->key, key);
  c.Signal(1, SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return StatusCallWorks(addr, Credentials(next_ca->cert())); },
                        absl::Seconds(10)))
      << c.LogTail(1);
  EXPECT_FALSE(StatusCallWorks(addr, Credentials(certs.ca->cert())));
  EXPECT_EQ(SetNode(c.tree(1), "/n", "2"), v1::OK);
  std::string data;
  ASSERT_EQ(GetNode(c.tree(1), "/n", &data), v1::OK);
  EXPECT_EQ(data, "2");
}

TEST(TlsE2eTest, APeerWithACertificateFromAnotherCaCannotTakePart) {
  Certs certs;
  TestCluster::Options o;
  o.extra_flags = certs.PeerFlags(certs.server);
  // Member 3's certificate and CA are another CA's. (A replica refuses to
  // start with a certificate its own --peer_tls_ca did not sign.)
  o.member_flags[3] = {"--peer_tls_cert=" + certs.stranger.cert,
                       "--peer_tls_key=" + certs.stranger.key,
                       "--peer_tls_ca=" + certs.other->cert()};
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok());
  const int leader = c.WaitForLeader(absl::Seconds(20), {1, 2});
  ASSERT_NE(leader, 0);
  uint64_t revision = 0;
  ASSERT_EQ(CreateNode(c.tree(leader), "/n", "x", absl::Seconds(5), &revision), v1::OK);
  ASSERT_TRUE(c.WaitForApplied(revision, absl::Seconds(10), {1, 2}));
  // Both members refuse member 3's links (it dials them to vote).
  for (int id : {1, 2}) {
    EXPECT_TRUE(WaitUntil(
        [&] {
          return Slurp(c.log_path(id)).find("raft link refused: TLS handshake failed") !=
                 std::string::npos;
        },
        absl::Seconds(20)))
        << c.LogTail(id);
  }
  // And it never got the entries.
  absl::StatusOr<v1::StatusResponse> st = c.Status(3);
  ASSERT_TRUE(st.ok());
  EXPECT_LT(st->applied_index(), revision);
}

TEST(TlsE2eTest, BadTlsFlagsStopTheStart) {
  Certs certs;
  TestCluster::Options o;
  o.size = 1;
  // The key of another certificate.
  o.extra_flags = {"--tls_cert=" + certs.server.cert, "--tls_key=" + certs.client.key};
  TestCluster c(o);
  EXPECT_FALSE(c.StartAll().ok());
  EXPECT_NE(Slurp(c.log_path(1)).find("does not belong to certificate"), std::string::npos)
      << c.LogTail(1);
}

}  // namespace
}  // namespace synod::e2e
