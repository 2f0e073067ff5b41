#include "raft/inflights.h"

#include "gtest/gtest.h"

namespace synod::raft {
namespace {

TEST(InflightsTest, FillsAndFreesInOrder) {
  Inflights in(4, 0);
  for (LogIndex i = 1; i <= 4; ++i) {
    EXPECT_FALSE(in.Full());
    in.Add(i * 10, 100);
  }
  EXPECT_TRUE(in.Full());
  EXPECT_EQ(in.Count(), 4u);
  EXPECT_EQ(in.bytes(), 400u);
  in.FreeLE(25);  // frees 10 and 20
  EXPECT_EQ(in.Count(), 2u);
  EXPECT_FALSE(in.Full());
  EXPECT_EQ(in.bytes(), 200u);
  in.FreeLE(5);  // nothing at or below 5
  EXPECT_EQ(in.Count(), 2u);
}

TEST(InflightsTest, WrapsAroundTheRing) {
  Inflights in(3, 0);
  LogIndex next = 1;
  for (int round = 0; round < 10; ++round) {
    while (!in.Full()) in.Add(next++, 1);
    in.FreeLE(next - 2);  // leave one in flight
    EXPECT_EQ(in.Count(), 1u);
  }
  in.FreeFirstOne();
  EXPECT_EQ(in.Count(), 0u);
}

TEST(InflightsTest, ByteLimit) {
  Inflights in(100, 250);
  in.Add(1, 100);
  in.Add(2, 100);
  EXPECT_FALSE(in.Full());
  in.Add(3, 100);
  EXPECT_TRUE(in.Full());
  in.FreeLE(1);
  EXPECT_FALSE(in.Full());
  in.Reset();
  EXPECT_EQ(in.Count(), 0u);
  EXPECT_EQ(in.bytes(), 0u);
}

}  // namespace
}  // namespace synod::raft
