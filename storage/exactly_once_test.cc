// Exactly-once writes with many in flight per session (WriteContext
// lowest_unacked), over both backends: writes applied in any order, each
// retry answered from its stored result, results dropped once acknowledged,
// writes below the acknowledged point refused, the bound on stored
// results, and the session table surviving a reopen, a snapshot and a
// restore.
#include <string>

#include "gtest/gtest.h"
#include "storage/apply.h"
#include "storage/tree_test_util.h"
#include "tests/testing/temp_dir.h"

namespace synod::storage::testing {
namespace {

template <typename Holder>
class ExactlyOnceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    session_ = driver_.Apply(OpenSessionCmd()).result.session_id();
    ASSERT_NE(session_, 0u);
    ASSERT_EQ(driver_.Apply(CreateCmd("/q", "")).result.code(), v1::OK);
  }
  // A sequential create under /q as write `sequence` of the session, the
  // client still waiting for results from `lowest` on.
  v1::Command Write(uint64_t sequence, uint64_t lowest) {
    v1::Command c = WithSession(CreateCmd("/q/n-", "", v1::PERSISTENT_SEQUENTIAL), session_, sequence);
    c.mutable_write()->set_lowest_unacked(lowest);
    return c;
  }
  v1::CommandResult Apply(const v1::Command& c) { return driver_.Apply(c).result; }
  int64_t Children() {
    auto got = holder_.store()->Get("/q");
    EXPECT_TRUE(got.ok());
    return got.ok() ? got->stat.num_children : -1;
  }
  // The session as stored.
  Session Stored() {
    auto got = holder_.store()->GetSession(session_);
    EXPECT_TRUE(got.ok() && got->session.has_value());
    return got.ok() && got->session.has_value() ? *got->session : Session();
  }

  Holder holder_;
  Driver driver_{holder_.store()};
  uint64_t session_ = 0;
};

TYPED_TEST_SUITE(ExactlyOnceTest, StoreBackends, StoreBackendNames);

TYPED_TEST(ExactlyOnceTest, ManyInFlightApplyOnceInAnyOrder) {
  // Writes 1..4 sent together reach the leader as 3, 1, 4, 2.
  const v1::CommandResult r3 = this->Apply(this->Write(3, 1));
  const v1::CommandResult r1 = this->Apply(this->Write(1, 1));
  const v1::CommandResult r4 = this->Apply(this->Write(4, 1));
  const v1::CommandResult r2 = this->Apply(this->Write(2, 1));
  for (const auto* r : {&r1, &r2, &r3, &r4}) ASSERT_EQ(r->code(), v1::OK);
  EXPECT_EQ(this->Children(), 4);
  // Each retry, in any order, gets its own result and applies nothing.
  EXPECT_EQ(this->Apply(this->Write(2, 1)).SerializeAsString(), r2.SerializeAsString());
  EXPECT_EQ(this->Apply(this->Write(4, 1)).SerializeAsString(), r4.SerializeAsString());
  EXPECT_EQ(this->Apply(this->Write(1, 1)).SerializeAsString(), r1.SerializeAsString());
  EXPECT_EQ(this->Apply(this->Write(3, 1)).SerializeAsString(), r3.SerializeAsString());
  EXPECT_EQ(this->Children(), 4);
  EXPECT_EQ(this->Stored().results.size(), 4u);
}

TYPED_TEST(ExactlyOnceTest, AcknowledgedResultsAreDroppedAndNeverReapplied) {
  for (uint64_t q = 1; q <= 4; ++q) ASSERT_EQ(this->Apply(this->Write(q, 1)).code(), v1::OK);
  // Write 5 says the client has the results of 1 and 2.
  ASSERT_EQ(this->Apply(this->Write(5, 3)).code(), v1::OK);
  Session s = this->Stored();
  EXPECT_EQ(s.acked_below, 3u);
  ASSERT_EQ(s.results.size(), 3u);
  EXPECT_EQ(s.results.front().sequence, 3u);
  // A stray copy of write 2 (with its old, lower lowest_unacked) is
  // refused and applies nothing; it does not bring results back.
  EXPECT_EQ(this->Apply(this->Write(2, 1)).code(), v1::DEADLINE_EXCEEDED);
  EXPECT_EQ(this->Children(), 5);
  EXPECT_EQ(this->Stored().acked_below, 3u);
  // Write 4 is still answered from its result.
  const v1::CommandResult again = this->Apply(this->Write(4, 3));
  EXPECT_EQ(again.code(), v1::OK);
  EXPECT_EQ(this->Children(), 5);
  // lowest_unacked 0: the write's own sequence, as one write in flight.
  ASSERT_EQ(this->Apply(this->Write(9, 0)).code(), v1::OK);
  s = this->Stored();
  EXPECT_EQ(s.acked_below, 9u);
  ASSERT_EQ(s.results.size(), 1u);
  EXPECT_EQ(this->Apply(this->Write(5, 5)).code(), v1::DEADLINE_EXCEEDED);
  EXPECT_EQ(this->Children(), 6);
}

TYPED_TEST(ExactlyOnceTest, BadLowestAndTheBoundChangeNothing) {
  // Waiting for results from above its own sequence: malformed.
  EXPECT_EQ(this->Apply(this->Write(3, 4)).code(), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Children(), 0);
  EXPECT_TRUE(this->Stored().results.empty());
  // The bound on stored results: the next new write is refused, a retry
  // of a stored one is still answered, and an acknowledgement makes room.
  for (uint64_t q = 1; q <= kMaxSessionResults; ++q) {
    ASSERT_EQ(this->Apply(this->Write(q, 1)).code(), v1::OK) << q;
  }
  const int64_t full = this->Children();
  EXPECT_EQ(this->Apply(this->Write(kMaxSessionResults + 1, 1)).code(), v1::INVALID_ARGUMENT);
  EXPECT_EQ(this->Children(), full);
  EXPECT_EQ(this->Apply(this->Write(7, 1)).code(), v1::OK);
  EXPECT_EQ(this->Children(), full);
  EXPECT_EQ(this->Apply(this->Write(kMaxSessionResults + 1, 2)).code(), v1::OK);
  EXPECT_EQ(this->Children(), full + 1);
  EXPECT_EQ(this->Stored().results.size(), kMaxSessionResults);
}

TYPED_TEST(ExactlyOnceTest, ResultsSurviveReopenSnapshotAndRestore) {
  for (uint64_t q = 1; q <= 3; ++q) ASSERT_EQ(this->Apply(this->Write(q, 1)).code(), v1::OK);
  ASSERT_EQ(this->Apply(this->Write(4, 2)).code(), v1::OK);
  ASSERT_EQ(this->Stored().results.size(), 3u);
  synod::testing::TempDir dir;
  ExpectStateSurvivesReopenAndSnapshot(&this->holder_, dir);
}

}  // namespace
}  // namespace synod::storage::testing
