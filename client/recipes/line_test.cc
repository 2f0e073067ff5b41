#include "client/recipes/line.h"

#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace synod::recipes {
namespace {

using client::testing::ConnectOrDie;
using client::testing::FakeClientOptions;
using client::testing::FakeCluster;
using ::testing::ElementsAre;

TEST(Line, SequenceNumbersOrderTheLine) {
  EXPECT_EQ(SequenceOf("lock-0000000012"), 12u);
  EXPECT_EQ(SequenceOf("read-0000000000"), 0u);
  EXPECT_EQ(SequenceOf("short1"), std::nullopt);
  EXPECT_EQ(SequenceOf("lock-00000000x2"), std::nullopt);
  EXPECT_THAT(SortBySequence({"write-0000000003", "read-0000000001", "junk", "read-0000000002"}),
              ElementsAre("read-0000000001", "read-0000000002", "write-0000000003"));
}

TEST(Line, TicketsCreateTheirDirectoryAndFollowCreationOrder) {
  FakeCluster cluster;
  auto client = ConnectOrDie(FakeClientOptions(cluster));
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  absl::StatusOr<Ticket> a = TakeTicket(*client, "/a/b/lock", "lock-", "x", deadline);
  absl::StatusOr<Ticket> b = TakeTicket(*client, "/a/b/lock", "lock-", "y", deadline);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->path, "/a/b/lock/lock-0000000000");
  EXPECT_EQ(b->name, "lock-0000000001");
  EXPECT_LT(a->czxid, b->czxid);
  EXPECT_TRUE(WaitForTurn(*client, "/a/b/lock", *a, PredecessorBlocks, deadline).ok());
  absl::Status not_yet = WaitForTurn(*client, "/a/b/lock", *b, PredecessorBlocks, deadline, false);
  EXPECT_EQ(not_yet.code(), absl::StatusCode::kFailedPrecondition);
  // b waits for a; a goes; b's turn.
  ASSERT_TRUE(client->Delete(a->path).ok());
  EXPECT_TRUE(WaitForTurn(*client, "/a/b/lock", *b, PredecessorBlocks, deadline).ok());
  // A ticket that vanished means the session ended.
  ASSERT_TRUE(client->Delete(b->path).ok());
  EXPECT_EQ(ErrorCodeOf(WaitForTurn(*client, "/a/b/lock", *b, PredecessorBlocks, deadline)),
            ErrorCode::kSessionExpired);
}

}  // namespace
}  // namespace synod::recipes
