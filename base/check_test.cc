#include "base/check.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace {

int evaluated = 0;
bool Touch() {
  ++evaluated;
  return true;
}

TEST(CheckDeathTest, CheckAbortsWithFileLineAndMessage) {
  EXPECT_DEATH(SYNOD_CHECK(1 + 1 == 3) << "math is "
                                       << "broken",
               "check_test.cc:[0-9]+: CHECK\\(1 \\+ 1 == 3\\) failed: math is broken");
}

TEST(CheckDeathTest, CheckOkAbortsWithStatus) {
  EXPECT_DEATH(SYNOD_CHECK_OK(absl::DataLossError("fsync failed")) << "appending",
               "CHECK_OK.*DATA_LOSS: fsync failed appending");
}

TEST(CheckTest, PassingChecksDoNothing) {
  evaluated = 0;
  SYNOD_CHECK(Touch()) << "never printed";
  SYNOD_CHECK_OK(absl::OkStatus());
  EXPECT_EQ(evaluated, 1);
}

TEST(CheckDeathTest, DcheckIsOnInThisBuild) {
  // base/CMakeLists.txt defines SYNOD_RAFT_INVARIANTS (default ON), so
  // invariant checks run even in RelWithDebInfo.
  EXPECT_EQ(SYNOD_DCHECK_IS_ON, 1);
  EXPECT_DEATH(SYNOD_DCHECK(false) << "invariant", "invariant");
}

}  // namespace
