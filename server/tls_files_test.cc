#include "server/tls_files.h"

#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_certs.h"

namespace synod::server {
namespace {

using ::synod::testing::TempDir;
using ::synod::testing::TestCa;
using ::synod::testing::TestCert;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(TlsFilesTest, ChecksThePairAndTheSigner) {
  TempDir tmp;
  absl::StatusOr<TestCa> ca = TestCa::Create(tmp.Sub("ca"), "ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<TestCa> other = TestCa::Create(tmp.Sub("other"), "other");
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<TestCert> a = ca->Issue("a");
  absl::StatusOr<TestCert> b = ca->Issue("b");
  absl::StatusOr<TestCert> stranger = other->Issue("stranger");
  ASSERT_TRUE(a.ok() && b.ok() && stranger.ok());

  EXPECT_TRUE(CheckTlsFiles({a->cert, a->key, ca->cert()}, true).ok());
  EXPECT_TRUE(CheckTlsFiles({a->cert, a->key, ""}, false).ok());
  // b's key with a's certificate.
  EXPECT_EQ(CheckTlsFiles({a->cert, b->key, ca->cert()}, false).code(),
            absl::StatusCode::kInvalidArgument);
  // Signed by another CA: fine for the client port's server certificate,
  // refused where the CA must have signed it (the peer port).
  EXPECT_TRUE(CheckTlsFiles({stranger->cert, stranger->key, ca->cert()}, false).ok());
  EXPECT_EQ(CheckTlsFiles({stranger->cert, stranger->key, ca->cert()}, true).code(),
            absl::StatusCode::kInvalidArgument);
  // Not PEM, missing.
  std::ofstream(tmp.Sub("junk.pem")) << "not a certificate\n";
  EXPECT_EQ(CheckTlsFiles({tmp.Sub("junk.pem"), a->key, ""}, false).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckTlsFiles({a->cert, tmp.Sub("junk.pem"), ""}, false).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckTlsFiles({tmp.Sub("none.pem"), a->key, ""}, false).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TlsFilesTest, ABadCertificateLeavesTheStagedCopiesAsTheyWere) {
  TempDir tmp;
  absl::StatusOr<TestCa> ca = TestCa::Create(tmp.Sub("ca"), "ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<TestCert> a = ca->Issue("a");
  absl::StatusOr<TestCert> b = ca->Issue("b");
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string cert = tmp.Sub("server.crt");
  const std::string key = tmp.Sub("server.key");
  std::ofstream(cert) << Slurp(a->cert);
  std::ofstream(key) << Slurp(a->key);
  StagedTlsFiles staged("test port", {cert, key, ca->cert()}, tmp.Sub("staged"), true);
  ASSERT_TRUE(staged.Stage().ok());
  const std::string first = Slurp(staged.identity_path());
  EXPECT_NE(first.find(Slurp(a->cert)), std::string::npos);
  EXPECT_EQ(Slurp(staged.ca_path()), Slurp(ca->cert()));

  // A new certificate whose key was not replaced: refused, copies kept.
  std::ofstream(cert, std::ios::trunc) << Slurp(b->cert);
  EXPECT_EQ(staged.Stage().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Slurp(staged.identity_path()), first);
  // Both replaced: staged.
  std::ofstream(key, std::ios::trunc) << Slurp(b->key);
  ASSERT_TRUE(staged.Stage().ok());
  EXPECT_NE(Slurp(staged.identity_path()).find(Slurp(b->cert)), std::string::npos);
}

TEST(TlsFilesTest, AnAlsoTrustedCaIsStagedNextToTheCa) {
  TempDir tmp;
  absl::StatusOr<TestCa> ca = TestCa::Create(tmp.Sub("ca"), "ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<TestCa> peer_ca = TestCa::Create(tmp.Sub("peer"), "peer");
  ASSERT_TRUE(peer_ca.ok()) << peer_ca.status();
  absl::StatusOr<TestCert> a = ca->Issue("a");
  ASSERT_TRUE(a.ok());
  const std::string also = tmp.Sub("also.crt");
  std::ofstream(also) << Slurp(peer_ca->cert());
  StagedTlsFiles staged("client port", {a->cert, a->key, ca->cert()}, tmp.Sub("staged"), false,
                        also);
  ASSERT_TRUE(staged.Stage().ok());
  EXPECT_EQ(Slurp(staged.ca_path()), Slurp(ca->cert()) + Slurp(peer_ca->cert()));
  // Not a certificate: refused, the copies kept.
  std::ofstream(also, std::ios::trunc) << "not a certificate\n";
  EXPECT_EQ(staged.Stage().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Slurp(staged.ca_path()), Slurp(ca->cert()) + Slurp(peer_ca->cert()));
}

TEST(TlsFilesTest, ParsesClientAuthAndTellsLoopbackAddresses) {
  EXPECT_EQ(*ParseClientAuth("none"), ClientAuth::kNone);
  EXPECT_EQ(*ParseClientAuth("request"), ClientAuth::kRequest);
  EXPECT_EQ(*ParseClientAuth("require"), ClientAuth::kRequire);
  EXPECT_EQ(ParseClientAuth("yes").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:7001"));
  EXPECT_TRUE(IsLoopbackAddress("127.3.2.1:7001"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:7001"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:7001"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:7001"));
  EXPECT_FALSE(IsLoopbackAddress(":7001"));
  EXPECT_FALSE(IsLoopbackAddress("10.1.2.3:7001"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:7001"));
  EXPECT_FALSE(IsLoopbackAddress("db1.example.com:7001"));
}

TEST(TlsFilesTest, PlaintextListenersNamesEveryPortOthersReachWithoutTls) {
  EXPECT_EQ(PlaintextListeners("127.0.0.1:1", false, "127.0.0.1:2", false, ""), "");
  EXPECT_EQ(PlaintextListeners("127.0.0.1:1", false, "127.0.0.1:2", false, "127.0.0.1:3"), "");
  EXPECT_EQ(PlaintextListeners("0.0.0.0:1", true, "10.0.0.1:2", true, ""), "");
  EXPECT_EQ(PlaintextListeners("0.0.0.0:1", false, "10.0.0.1:2", false, ""),
            "clients on 0.0.0.0:1 and peers on 10.0.0.1:2");
  // The ZooKeeper port has no TLS: named even when the others use it.
  EXPECT_EQ(PlaintextListeners("0.0.0.0:1", true, "10.0.0.1:2", true, "0.0.0.0:2181"),
            "ZooKeeper clients on 0.0.0.0:2181");
}

}  // namespace
}  // namespace synod::server
