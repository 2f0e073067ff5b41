// Synod's ZooKeeper port driven by an unchanged ZooKeeper client: three real
// replicas with --zk_addr, and tests/e2e/zk_kazoo.py (python3-kazoo) doing
// creates, reads, sets, deletes, children, sequential and ephemeral nodes,
// watches, multi, digest auth and ACLs (getACL, setACL, the superuser
// digest, whoAmI, sasl), persistent watches (addWatch, checkWatches,
// removeWatches, setWatches2), a session resumed on another replica,
// closeSession, an oversized frame, multiRead, four-letter words (and their
// whitelist) and the port's metrics; and tests/e2e/zk_kazoo_recipes.py,
// kazoo's recipes (locks, election, barriers, counter, queues, party,
// partitioner) with clients on all three replicas. A script's output is
// printed when it fails.
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/acl.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/free_port.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

#if !defined(ZK_KAZOO_PY) || !defined(ZK_KAZOO_RECIPES_PY)
#error "ZK_KAZOO_PY and ZK_KAZOO_RECIPES_PY must name the scripts in tests/e2e"
#endif

namespace synod::e2e {
namespace {

// Runs `script` with the three replicas' ZooKeeper addresses; its exit
// status must be 0 within `limit`.
void RunAgainstThreeReplicas(const std::string& script, absl::Duration limit) {
  TestCluster::Options options;
  std::vector<std::string> zk_addrs;
  const std::string metrics_addr = absl::StrCat("127.0.0.1:", testing::FreePort());
  for (int id = 1; id <= 3; ++id) {
    zk_addrs.push_back(absl::StrCat("127.0.0.1:", testing::FreePort()));
    options.member_flags[id] = {"--zk_addr=" + zk_addrs.back(),
                                "--superuser_digest=" + storage::DigestId("super", "duper")};
    // The third keeps ZooKeeper's default four-letter-word whitelist.
    if (id != 3) options.member_flags[id].push_back("--zk_4lw_whitelist=*");
  }
  options.member_flags[2].push_back("--metrics_addr=" + metrics_addr);
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.StartAll().ok());

  testing::TempDir dir;
  const std::string log = dir.Sub("kazoo.log");
  testing::Subprocess::Options po;
  po.binary = "/usr/bin/python3";
  // zk_kazoo.py also reads the metrics of replica 2; the recipes ignore it.
  po.args = {script, zk_addrs[0], zk_addrs[1], zk_addrs[2], metrics_addr};
  po.log_path = log;
  absl::StatusOr<testing::Subprocess> p = testing::Subprocess::Start(po);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<int> status = p->Wait(limit);
  std::stringstream out;
  out << std::ifstream(log).rdbuf();
  ASSERT_TRUE(status.ok()) << script << " still running after " << limit << ":\n" << out.str();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << out.str();
  std::cout << out.str();
}

TEST(ZkKazooE2eTest, KazooAgainstThreeReplicas) {
  RunAgainstThreeReplicas(ZK_KAZOO_PY, absl::Seconds(180));
}

TEST(ZkKazooE2eTest, KazooRecipesAgainstThreeReplicas) {
  RunAgainstThreeReplicas(ZK_KAZOO_RECIPES_PY, absl::Seconds(120));
}

}  // namespace
}  // namespace synod::e2e
