// Apache Curator (Debian's libcurator-*-java, unchanged) against Synod's
// ZooKeeper port: tests/e2e/CuratorCheck.java, compiled with javac at build
// time, sets up LeaderLatch, InterProcessMutex and CuratorCache with two
// clients on three replicas; the test kills the leader replica; the program
// checks that every recipe kept its state and that no session was lost.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/free_port.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

#if !defined(CURATOR_CLASSPATH)
#error "CURATOR_CLASSPATH must name CuratorCheck's classes and the Curator jars"
#endif

namespace synod::e2e {
namespace {

std::string ReadAll(const std::string& path) {
  std::stringstream out;
  out << std::ifstream(path).rdbuf();
  return out.str();
}

TEST(ZkCuratorE2eTest, RecipesSurviveTheLeaderKill) {
  TestCluster::Options options;
  std::vector<std::string> zk_addrs;
  for (int id = 1; id <= 3; ++id) {
    zk_addrs.push_back(absl::StrCat("127.0.0.1:", testing::FreePort()));
    options.member_flags[id] = {"--zk_addr=" + zk_addrs.back()};
  }
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.StartAll().ok());

  testing::TempDir dir;
  const std::string ready = dir.Sub("ready");
  const std::string killed = dir.Sub("killed");
  const std::string log = dir.Sub("curator.log");
  testing::Subprocess::Options po;
  po.binary = "/usr/bin/java";
  po.args = {"-cp", CURATOR_CLASSPATH, "CuratorCheck", absl::StrJoin(zk_addrs, ","), ready,
             killed};
  po.log_path = log;
  absl::StatusOr<testing::Subprocess> p = testing::Subprocess::Start(po);
  ASSERT_TRUE(p.ok()) << p.status();

  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!std::filesystem::exists(ready) && p->Running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(std::filesystem::exists(ready)) << "CuratorCheck never got ready:\n"
                                              << ReadAll(log);
  const int leader = cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_NE(leader, 0);
  cluster.Kill(leader);
  std::ofstream(killed) << leader << "\n";

  absl::StatusOr<int> status = p->Wait(absl::Seconds(90));
  const std::string out = ReadAll(log);
  ASSERT_TRUE(status.ok()) << "CuratorCheck still running after 90 s:\n" << out;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << out;
  std::cout << "killed the leader, member " << leader << "\n" << out;
}

}  // namespace
}  // namespace synod::e2e
