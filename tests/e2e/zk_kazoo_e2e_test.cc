// Synod's ZooKeeper port driven by an unchanged ZooKeeper client: three real
// replicas with --zk_addr, and tests/e2e/zk_kazoo.py (python3-kazoo) doing
// creates, reads, sets, deletes, children, sequential and ephemeral nodes,
// watches, multi, digest auth and ACLs (getACL, setACL, the superuser
// digest, whoAmI, sasl), persistent watches (addWatch, checkWatches,
// removeWatches, setWatches2), a session resumed on another replica,
// closeSession, an oversized frame, multiRead, four-letter words (and their
// whitelist) and the port's metrics. The script's output is printed when it
// fails.
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

#ifndef ZK_KAZOO_PY
#error "ZK_KAZOO_PY must name tests/e2e/zk_kazoo.py"
#endif

namespace synod::e2e {
namespace {

TEST(ZkKazooE2eTest, KazooAgainstThreeReplicas) {
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
  po.args = {ZK_KAZOO_PY, zk_addrs[0], zk_addrs[1], zk_addrs[2], metrics_addr};
  po.log_path = log;
  absl::StatusOr<testing::Subprocess> p = testing::Subprocess::Start(po);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<int> status = p->Wait(absl::Seconds(180));
  std::stringstream out;
  out << std::ifstream(log).rdbuf();
  ASSERT_TRUE(status.ok()) << "kazoo script still running after 180 s:\n" << out.str();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << out.str();
  std::cout << out.str();
}

}  // namespace
}  // namespace synod::e2e
