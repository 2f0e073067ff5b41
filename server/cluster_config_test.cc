#include "server/cluster_config.h"

#include "gtest/gtest.h"

namespace synod::server {
namespace {

TEST(ParseInitialClusterTest, Parses) {
  auto c = ParseInitialCluster("3=127.0.0.1:7103, 1=127.0.0.1:7101/127.0.0.1:7001,2=h:7102");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->members.size(), 3u);
  EXPECT_EQ(c->members[0].id(), 1u);
  EXPECT_EQ(c->members[0].peer_addr(), "127.0.0.1:7101");
  EXPECT_EQ(c->members[0].client_addr(), "127.0.0.1:7001");
  EXPECT_EQ(c->members[1].client_addr(), "");
  EXPECT_EQ(c->members[2].id(), 3u);
  EXPECT_NE(c->cluster_id, 0u);
}

TEST(ParseInitialClusterTest, ClusterIdDependsOnMembersOnly) {
  auto a = ParseInitialCluster("1=a:1,2=b:2");
  auto b = ParseInitialCluster("2=b:2/c:9,1=a:1");
  auto c = ParseInitialCluster("1=a:1,2=b:3");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->cluster_id, b->cluster_id);
  EXPECT_NE(a->cluster_id, c->cluster_id);
  // Fixed across builds: the id is part of the on-disk identity.
  EXPECT_EQ(StableHash64(""), 14695981039346656037ull);
}

TEST(ParseInitialClusterTest, Rejects) {
  for (const char* bad : {"", "1", "0=a:1", "x=a:1", "1=a", "1=a:0", "1=a:1,1=b:2", "1=a:1,2=a:1",
                          "1=a:1/b", "1=:5"}) {
    EXPECT_EQ(ParseInitialCluster(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace synod::server
