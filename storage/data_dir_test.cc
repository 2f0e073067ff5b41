#include "storage/data_dir.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace synod::storage {
namespace {

Identity Id(uint64_t cluster, uint64_t member) {
  Identity id;
  id.cluster_id = cluster;
  id.member_id = member;
  return id;
}

TEST(DataDirTest, CreatesThenRecognises) {
  synod::testing::TempDir tmp;
  const std::string path = tmp.Sub("d");
  {
    auto dir = DataDir::Open(path, Id(7, 1));
    ASSERT_TRUE(dir.ok()) << dir.status();
    EXPECT_TRUE((*dir)->created());
  }
  auto dir = DataDir::Open(path, Id(7, 1));
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_FALSE((*dir)->created());
  EXPECT_EQ((*dir)->identity().cluster_id, 7u);
}

TEST(DataDirTest, RefusesOtherClusterOrMember) {
  synod::testing::TempDir tmp;
  const std::string path = tmp.Sub("d");
  ASSERT_TRUE(DataDir::Open(path, Id(7, 1)).ok());
  auto other_cluster = DataDir::Open(path, Id(8, 1));
  EXPECT_EQ(other_cluster.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other_cluster.status().message().find("--initial_cluster"), absl::string_view::npos);
  auto other_member = DataDir::Open(path, Id(7, 2));
  EXPECT_EQ(other_member.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(other_member.status().message().find("--id=1"), absl::string_view::npos);
}

TEST(DataDirTest, SecondOpenWhileLockedIsRefused) {
  synod::testing::TempDir tmp;
  const std::string path = tmp.Sub("d");
  auto first = DataDir::Open(path, Id(7, 1));
  ASSERT_TRUE(first.ok());
  auto second = DataDir::Open(path, Id(7, 1));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use"), absl::string_view::npos) << second.status();
  first->reset();
  EXPECT_TRUE(DataDir::Open(path, Id(7, 1)).ok());
}

TEST(DataDirTest, DatabaseWithoutIdentityIsRefused) {
  synod::testing::TempDir tmp;
  std::filesystem::create_directories(tmp.Sub("d/db"));
  EXPECT_EQ(DataDir::Open(tmp.Sub("d"), Id(7, 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace synod::storage
