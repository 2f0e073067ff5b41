// End-to-end membership changes: a new member joins as a learner, is
// promoted once caught up, leadership moves to it, and an old member is
// removed; unsafe or invalid requests are refused and change nothing.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/membership_calls.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/wait.h"

namespace synod::e2e {
namespace {

using ::synod::testing::WaitUntil;

TEST(MembershipE2ETest, JoinPromoteTransferRemove) {
  TestCluster::Options o;
  o.snapshot_threshold = 200;  // the newcomer is caught up by a snapshot
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  ASSERT_EQ(CreateNode(c.tree(leader), "/m", ""), v1::OK);
  for (int i = 0; i < 500; ++i) {
    ASSERT_EQ(CreateNode(c.tree(leader), absl::StrCat("/m/", i), "x"), v1::OK) << Logs(c);
  }
  const int four = c.AddMemberSlot();
  ASSERT_EQ(four, 4);
  const int follower = leader % 3 + 1;
  // Membership changes go to the leader.
  EXPECT_EQ(Add(c, follower, four), v1::NOT_LEADER);
  ASSERT_EQ(Add(c, leader, four), v1::OK) << Logs(c);
  EXPECT_EQ(Add(c, leader, four), v1::MEMBER_EXISTS);
  // Not started: it has nothing, so promoting it is refused.
  EXPECT_EQ(Promote(c, leader, four), v1::LEARNER_NOT_READY);

  ASSERT_TRUE(c.Start(four).ok()) << Logs(c, 1);
  // Caught up: same applied index and digest as the others.
  const uint64_t digest = Digest(c, {1, 2, 3, 4});
  ASSERT_NE(digest, 0u) << Logs(c, 1);
  std::string data;
  ASSERT_EQ(GetNode(c.tree(four), "/m/499", &data, v1::SERIALIZABLE), v1::OK);
  ASSERT_TRUE(WaitUntil([&] { return Promote(c, leader, four) == v1::OK; }, absl::Seconds(20)))
      << Logs(c, 1);
  auto st = c.Status(leader);
  ASSERT_TRUE(st.ok());
  int voters = 0;
  for (const auto& m : st->members()) voters += m.member().learner() ? 0 : 1;
  EXPECT_EQ(voters, 4);

  // Leadership moves to the newcomer.
  ASSERT_EQ(Transfer(c, leader, four), v1::OK) << Logs(c, 1);
  ASSERT_EQ(c.WaitForLeader(absl::Seconds(10)), four) << Logs(c, 1);
  EXPECT_EQ(Transfer(c, four, 99), v1::MEMBER_NOT_FOUND);

  // Remove the old leader; the rest keep serving.
  ASSERT_EQ(Remove(c, four, leader), v1::OK) << Logs(c, 1);
  EXPECT_EQ(Remove(c, four, leader), v1::MEMBER_NOT_FOUND);
  c.Stop(leader);
  std::set<int> rest;
  for (int id : {1, 2, 3, 4}) {
    if (id != leader) rest.insert(id);
  }
  ASSERT_EQ(c.WaitForLeader(absl::Seconds(10), rest), four) << Logs(c, 1);
  ASSERT_EQ(CreateNode(c.tree(four), "/after-remove", ""), v1::OK) << Logs(c, 1);
  EXPECT_NE(Digest(c, rest), 0u) << Logs(c, 1);

  // With one of the three remaining voters down, removing another would
  // leave one live voter of two: refused.
  const int down = *rest.rbegin() == four ? *rest.begin() : *rest.rbegin();
  c.Kill(down);
  int other = 0;
  for (int id : rest) {
    if (id != four && id != down) other = id;
  }
  // Once the leader sees it down (its Status says unreachable)...
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto st = c.Status(four);
        if (!st.ok()) return false;
        for (const auto& m : st->members()) {
          if (static_cast<int>(m.member().id()) == down) return !m.reachable();
        }
        return false;
      },
      absl::Seconds(10)))
      << Logs(c, 1);
  EXPECT_EQ(Remove(c, four, other), v1::UNSAFE_MEMBERSHIP_CHANGE) << Logs(c, 1);
  ASSERT_EQ(CreateNode(c.tree(four), "/still-serving", ""), v1::OK) << Logs(c, 1);
}

TEST(MembershipE2ETest, RemovingTheLeaderMovesLeadershipFirst) {
  TestCluster c({});
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  ASSERT_EQ(CreateNode(c.tree(leader), "/x", "1"), v1::OK);
  ASSERT_EQ(Remove(c, leader, leader), v1::OK) << Logs(c);
  std::set<int> rest;
  for (int id = 1; id <= 3; ++id) {
    if (id != leader) rest.insert(id);
  }
  const int next = c.WaitForLeader(absl::Seconds(10), rest);
  ASSERT_NE(next, 0) << Logs(c);
  EXPECT_NE(next, leader);
  ASSERT_EQ(SetNode(c.tree(next), "/x", "2"), v1::OK) << Logs(c);
  auto st = c.Status(next);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->members_size(), 2);
  // The removed replica is no longer asked for anything; stop it cleanly.
  EXPECT_EQ(c.Stop(leader), "exit 0");
  ASSERT_EQ(SetNode(c.tree(next), "/x", "3"), v1::OK) << Logs(c);
}

}  // namespace
}  // namespace synod::e2e
