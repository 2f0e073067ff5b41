// SASL (DIGEST-MD5) on the ZooKeeper port, driven by ZooKeeper's own Java
// client (tests/e2e/SaslCheck.java, compiled with javac at build time) and
// by kazoo (tests/e2e/zk_kazoo_sasl.py), run against three replicas that
// read their users from a JAAS file (--zk_sasl_users) and name a SASL
// superuser (--zk_sasl_superuser).
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/jvm_check.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/free_port.h"
#include "tests/testing/temp_dir.h"

#if !defined(JVM_CHECK_CLASSPATH)
#error "JVM_CHECK_CLASSPATH must name SaslCheck's classes and zookeeper.jar"
#endif
#if !defined(ZK_KAZOO_SASL_PY)
#error "ZK_KAZOO_SASL_PY must name tests/e2e/zk_kazoo_sasl.py"
#endif

namespace synod::e2e {
namespace {

constexpr char kServerJaas[] = R"(Server {
  org.apache.zookeeper.server.auth.DigestLoginModule required
    user_alice="alice-secret"
    user_bob="bob-secret"
    user_root="root-secret";
};
)";

constexpr char kClientJaas[] = R"(
Alice { org.apache.zookeeper.server.auth.DigestLoginModule required
        username="alice" password="alice-secret"; };
WrongAlice { org.apache.zookeeper.server.auth.DigestLoginModule required
             username="alice" password="not-her-secret"; };
Bob { org.apache.zookeeper.server.auth.DigestLoginModule required
      username="bob" password="bob-secret"; };
Root { org.apache.zookeeper.server.auth.DigestLoginModule required
       username="root" password="root-secret"; };
)";

TEST(ZkSaslE2eTest, JavaAndKazooClientsAuthenticateAndSaslAclsHold) {
  testing::TempDir dir;
  const std::string server_jaas = dir.Sub("server-jaas.conf");
  const std::string client_jaas = dir.Sub("client-jaas.conf");
  std::ofstream(server_jaas) << kServerJaas;
  std::ofstream(client_jaas) << kClientJaas;

  TestCluster::Options options;
  std::vector<std::string> zk_addrs;
  for (int id = 1; id <= 3; ++id) {
    zk_addrs.push_back(absl::StrCat("127.0.0.1:", testing::FreePort()));
    options.member_flags[id] = {"--zk_addr=" + zk_addrs.back(), "--zk_sasl_users=" + server_jaas,
                                "--zk_sasl_superuser=root"};
  }
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.StartAll().ok());

  JvmCheck check;
  check.main_class = "SaslCheck";
  check.classpath = JVM_CHECK_CLASSPATH;
  check.jvm_flags = {"-Djava.security.auth.login.config=" + client_jaas};
  check.args = {zk_addrs[0], zk_addrs[1]};
  check.log_path = dir.Sub("sasl-check.log");
  absl::StatusOr<testing::Subprocess> p = StartJvmCheck(check);
  ASSERT_TRUE(p.ok()) << p.status();
  const JvmCheckResult result = WaitForJvmCheck(*p, absl::Seconds(90));
  EXPECT_TRUE(result.status.ok()) << "SaslCheck: " << result.status << "\n" << result.log;
  EXPECT_NE(result.log.find("SaslCheck passed"), std::string::npos) << result.log;

  testing::Subprocess::Options kazoo;
  kazoo.binary = "/usr/bin/python3";
  kazoo.args = {ZK_KAZOO_SASL_PY, zk_addrs[2], zk_addrs[0]};
  kazoo.log_path = dir.Sub("kazoo-sasl.log");
  absl::StatusOr<testing::Subprocess> k = testing::Subprocess::Start(kazoo);
  ASSERT_TRUE(k.ok()) << k.status();
  absl::StatusOr<int> status = k->Wait(absl::Seconds(90));
  std::stringstream out;
  out << std::ifstream(kazoo.log_path).rdbuf();
  ASSERT_TRUE(status.ok()) << "zk_kazoo_sasl.py still running after 90 s:\n" << out.str();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << out.str();
}

TEST(ZkSaslE2eTest, MalformedUsersFileStopsTheReplica) {
  testing::TempDir dir;
  const std::string server_jaas = dir.Sub("server-jaas.conf");
  std::ofstream(server_jaas) << "Server { org.apache.zookeeper.server.auth.DigestLoginModule "
                                "required user_alice=\"hunter2\" }";
  TestCluster::Options options;
  options.size = 1;
  options.member_flags[1] = {absl::StrCat("--zk_addr=127.0.0.1:", testing::FreePort()),
                             "--zk_sasl_users=" + server_jaas};
  TestCluster cluster(options);
  const absl::Status status = cluster.StartAll();
  ASSERT_FALSE(status.ok());
  // The member's log tail: the file and the line, never the password.
  EXPECT_NE(status.message().find("SASL users file " + server_jaas + ": line 1"),
            std::string::npos)
      << status;
  EXPECT_EQ(status.message().find("hunter2"), std::string::npos) << status;
}

}  // namespace
}  // namespace synod::e2e
