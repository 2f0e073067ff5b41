#include "storage/snapshot_descriptor.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace synod::storage {
namespace {

TEST(SnapshotDescriptorTest, MembersRoundTrip) {
  v1::Member one;
  one.set_id(1);
  one.set_peer_addr("10.0.0.1:7001");
  one.set_client_addr("10.0.0.1:7000");
  v1::Member two;
  two.set_id(2);
  two.set_peer_addr("10.0.0.2:7001");
  two.set_learner(true);
  absl::StatusOr<std::vector<v1::Member>> decoded =
      DecodeSnapshotDescriptor(EncodeSnapshotDescriptor({one, two}));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].SerializeAsString(), one.SerializeAsString());
  EXPECT_EQ((*decoded)[1].SerializeAsString(), two.SerializeAsString());
}

TEST(SnapshotDescriptorTest, NoMembersIsAnEmptyDescriptor) {
  EXPECT_TRUE(EncodeSnapshotDescriptor({}).empty());
  absl::StatusOr<std::vector<v1::Member>> decoded = DecodeSnapshotDescriptor("");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->empty());
}

TEST(SnapshotDescriptorTest, GarbageIsDataLoss) {
  // Field 4 (members) as a length-delimited record that runs past the end.
  const std::string torn = EncodeSnapshotDescriptor({v1::Member()}) + "\x22\x10";
  EXPECT_EQ(DecodeSnapshotDescriptor(torn).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeSnapshotDescriptor("\xff\xff\xff").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace synod::storage
