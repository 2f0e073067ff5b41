#include "client/recipes/group.h"

#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/wait.h"

namespace synod::recipes {
namespace {

using client::testing::ConnectOrDie;
using client::testing::FakeClientOptions;
using client::testing::FakeCluster;

std::vector<std::string> Ids(const std::vector<GroupMemberInfo>& members) {
  std::vector<std::string> out;
  for (const auto& m : members) out.push_back(m.id);
  return out;
}

TEST(Group, LiveMemberListFollowsJoinsLeavesAndDeaths) {
  FakeCluster cluster;
  auto watcher = ConnectOrDie(FakeClientOptions(cluster));
  auto a = ConnectOrDie(FakeClientOptions(cluster));
  auto b = ConnectOrDie(FakeClientOptions(cluster));
  absl::StatusOr<std::unique_ptr<GroupWatcher>> w =
      GroupWatcher::Start(watcher.get(), "/app/members", [](const auto&) {});
  ASSERT_TRUE(w.ok()) << w.status();
  auto ids = [&] { return Ids((*w)->members()); };
  EXPECT_TRUE(ids().empty());

  GroupMember ma(a.get(), "/app/members", "a", "10.0.0.1");
  GroupMember mb(b.get(), "/app/members", "b", "10.0.0.2");
  ASSERT_TRUE(ma.Join().ok());
  ASSERT_TRUE(mb.Join().ok());
  ASSERT_TRUE(testing::WaitUntil([&] { return ids().size() == 2; }, absl::Seconds(5)));
  EXPECT_THAT(ids(), ::testing::ElementsAre("a", "b"));
  EXPECT_EQ((*w)->members()[0].data, "10.0.0.1");
  GroupMember dup(b.get(), "/app/members", "a", "x");
  EXPECT_EQ(ErrorCodeOf(dup.Join()), ErrorCode::kNodeExists);

  ASSERT_TRUE(mb.Leave().ok());
  ASSERT_TRUE(testing::WaitUntil([&] { return ids().size() == 1; }, absl::Seconds(5)));
  // a's session dies: a leaves with it, then joins again under a new one.
  const uint64_t old = a->session_id();
  cluster.ExpireSession(old);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        std::vector<GroupMemberInfo> m = (*w)->members();
        return m.size() == 1 && m[0].session_id != old && m[0].session_id != 0;
      },
      absl::Seconds(10)));
}

// A member that could not join again after its session expired is out:
// its Leave must not delete the node another member has since created
// under the same id.
TEST(Group, AMemberThatFailedToRejoinLeavesOthersAlone) {
  FakeCluster cluster;
  auto a = ConnectOrDie(FakeClientOptions(cluster));
  auto b = ConnectOrDie(FakeClientOptions(cluster));
  GroupMember ma(a.get(), "/g", "x", "from a");
  ASSERT_TRUE(ma.Join().ok());
  // Session listeners run in the order they were added, one after the
  // other: this one runs once the member's own (the rejoin) has returned.
  absl::Notification rejoin_done;
  const int listener = a->AddSessionListener([&](SessionState s, uint64_t) {
    if (s == SessionState::kExpired && !rejoin_done.HasBeenNotified()) rejoin_done.Notify();
  });
  // The rejoin goes to the leader, member 1.
  cluster.FailNext(1, "Create", 1, ErrorCode::kNodeExists);
  cluster.ExpireSession(a->session_id());
  ASSERT_TRUE(rejoin_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  a->RemoveSessionListener(listener);
  EXPECT_FALSE(cluster.data("/g/x").has_value());

  GroupMember mb(b.get(), "/g", "x", "from b");
  const absl::Status joined = mb.Join();
  ASSERT_TRUE(joined.ok()) << joined;
  const absl::Status left = ma.Leave();
  ASSERT_TRUE(left.ok()) << left;
  EXPECT_EQ(cluster.data("/g/x"), "from b");
}

}  // namespace
}  // namespace synod::recipes
