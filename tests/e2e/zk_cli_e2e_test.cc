// zkCli (the zookeeper package's /usr/share/zookeeper/bin/zkCli.sh,
// unchanged) scripted against Synod's ZooKeeper port: one JVM reads the
// whole script from stdin. Its transcript (less the lines that carry times
// and zxids, and logging noise) must be what ZooKeeper 3.8.0 prints for the
// same script, as recorded from a real 3.8.0 server.
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "storage/acl.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/free_port.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace synod::e2e {
namespace {

constexpr char kZkCli[] = "/usr/share/zookeeper/bin/zkCli.sh";

// The transcript without what differs from run to run: times, zxids, the
// connect line (it names the port), SLF4J's notices, blank lines.
std::string Stable(const std::string& out) {
  std::vector<std::string> kept;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (line.empty() || absl::StartsWith(line, "SLF4J") || absl::StrContains(line, "time = ") ||
        absl::StrContains(line, "Zxid = ") || absl::StartsWith(line, "Connecting to ")) {
      continue;
    }
    kept.emplace_back(line);
  }
  return absl::StrJoin(kept, "\n");
}

TEST(ZkCliE2eTest, ScriptedSessionAsAgainstZooKeeper) {
  TestCluster::Options options;
  const std::string zk_addr = absl::StrCat("127.0.0.1:", testing::FreePort());
  options.member_flags[2] = {"--zk_addr=" + zk_addr};
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.StartAll().ok());

  // "u:p" as digest:u:<base64 sha1>, the form setAcl and getAcl use.
  const std::string digest = storage::DigestId("u", "p");
  testing::TempDir dir;
  const std::string script = dir.Sub("script");
  std::ofstream(script) << "ls /\n"
                           "ls /zookeeper\n"
                           "getAcl /zookeeper/config\n"
                           "set /zookeeper/config \"x\"\n"
                           "create /cli \"hello\"\n"
                           "get /cli\n"
                           "set /cli \"world\"\n"
                           "get -s /cli\n"
                           "set -v 7 /cli \"stale\"\n"
                           "create /cli/a\n"
                           "get /cli/a\n"
                           "create -s /cli/s- \"x\"\n"
                           "create -e /cli/e\n"
                           "ls /cli\n"
                           "ls -s /cli\n"
                           "stat /cli\n"
                           "delete /cli\n"
                           "get /missing\n"
                           "getAcl /cli\n"
                        << "create /cli2 \"secret\" digest:" << digest << ":cdrwa\n"
                        << "get /cli2\n"
                           "addauth digest u:p\n"
                           "get /cli2\n"
                           "setAcl /cli auth::cdrwa\n"
                           "getAcl /cli\n"
                           "setAcl /cli world:anyone:r\n"
                           "getAcl /cli\n"
                           "delete /cli/a\n"
                           "delete /cli2\n"
                           "ls /cli\n"
                           "quit\n";
  const std::string log = dir.Sub("zkcli.log");
  testing::Subprocess::Options po;
  po.binary = "/bin/sh";
  po.args = {"-c", absl::StrCat("exec ", kZkCli, " -server ", zk_addr, " < ", script)};
  po.log_path = log;
  absl::StatusOr<testing::Subprocess> p = testing::Subprocess::Start(po);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<int> status = p->Wait(absl::Seconds(60));
  std::stringstream out;
  out << std::ifstream(log).rdbuf();
  ASSERT_TRUE(status.ok()) << "zkCli still running after 60 s:\n" << out.str();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << out.str();

  const std::string stat_cli =
      "cversion = 3\n"
      "dataVersion = 1\n"
      "aclVersion = 0\n"
      "ephemeralOwner = 0x0\n"
      "dataLength = 5\n"
      "numChildren = 3\n";
  const std::string expected = absl::StrCat(
      "Welcome to ZooKeeper!\n"
      "JLine support is disabled\n"
      "WATCHER::\n"
      "WatchedEvent state:SyncConnected type:None path:null\n"
      "[zookeeper]\n"
      "[config, quota]\n"
      "'world,'anyone\n"
      ": r\n"
      "Insufficient permission : /zookeeper/config\n"
      "Created /cli\n"
      "hello\n"
      "world\n"
      "cversion = 0\n"
      "dataVersion = 1\n"
      "aclVersion = 0\n"
      "ephemeralOwner = 0x0\n"
      "dataLength = 5\n"
      "numChildren = 0\n"
      "version No is not valid : /cli\n"
      "Created /cli/a\n"
      "null\n"
      "Created /cli/s-0000000001\n"
      "Created /cli/e\n"
      "[a, e, s-0000000001]\n"
      "[a, e, s-0000000001]\n",
      stat_cli, stat_cli,
      "Node not empty: /cli\n"
      "Node does not exist: /missing\n"
      "'world,'anyone\n"
      ": cdrwa\n"
      "Created /cli2\n"
      "Insufficient permission : /cli2\n"
      "secret\n",
      "'digest,'", digest, "\n",
      ": cdrwa\n"
      "'world,'anyone\n"
      ": r\n"
      "Insufficient permission : /cli/a\n"
      "[a, e, s-0000000001]\n"
      "WATCHER::\n"
      "WatchedEvent state:Closed type:None path:null");
  EXPECT_EQ(Stable(out.str()), expected) << out.str();
}

}  // namespace
}  // namespace synod::e2e
