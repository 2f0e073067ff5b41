// Apache Curator (Debian's libcurator-*-java, unchanged) against Synod's
// ZooKeeper port: tests/e2e/CuratorCheck.java, compiled with javac at build
// time, sets up LeaderLatch, InterProcessMutex and CuratorCache with two
// clients on three replicas; the test kills the leader replica; the program
// checks that every recipe kept its state and that no session was lost.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/e2e/jvm_check.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/free_port.h"
#include "tests/testing/temp_dir.h"

#if !defined(JVM_CHECK_CLASSPATH)
#error "JVM_CHECK_CLASSPATH must name CuratorCheck's classes and the Curator jars"
#endif

namespace synod::e2e {
namespace {

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
  JvmCheck check;
  check.main_class = "CuratorCheck";
  check.classpath = JVM_CHECK_CLASSPATH;
  check.args = {absl::StrJoin(zk_addrs, ","), ready, killed};
  check.log_path = dir.Sub("curator.log");
  absl::StatusOr<testing::Subprocess> p = StartJvmCheck(check);
  ASSERT_TRUE(p.ok()) << p.status();

  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!std::filesystem::exists(ready) && p->Running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (!std::filesystem::exists(ready)) {
    const JvmCheckResult early = WaitForJvmCheck(*p, absl::ZeroDuration());
    FAIL() << "CuratorCheck never got ready (" << early.status << "):\n" << early.log;
  }
  const int leader = cluster.WaitForLeader(absl::Seconds(10));
  ASSERT_NE(leader, 0);
  cluster.Kill(leader);
  std::ofstream(killed) << leader << "\n";

  const JvmCheckResult result = WaitForJvmCheck(*p, absl::Seconds(90));
  EXPECT_TRUE(result.status.ok()) << "CuratorCheck: " << result.status << "\n" << result.log;
  std::cout << "killed the leader, member " << leader << "\n" << result.log;
}

}  // namespace
}  // namespace synod::e2e
