#include "tests/faults/exactly_once_checker.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/faults/checker_test_util.h"

namespace synod::faults {
namespace {

using testing::ExpectViolation;
using testing::Joined;
using testing::TestListing;
using testing::TestOp;

// Hand-written histories of increments on counter /faults/eo/k0.
class Counters {
 public:
  // An increment; `seq` >= 0 for an ok one: the child its reply named.
  Counters& Increment(const std::string& tag, Outcome outcome, int attempts, int64_t seq = -1) {
    Op op = TestOp(next_id_++, OpType::kCreate, 0, 5);
    op.key = "/faults/eo/k0/n-";
    op.value = tag;
    op.outcome = outcome;
    op.attempts = attempts;
    op.session = 5;
    if (outcome == Outcome::kOk) op.read_value = absl::StrCat("/faults/eo/k0/", Name(seq));
    ops_.push_back(op);
    return *this;
  }
  // A final listing of (sequence, tag) children.
  Counters& List(const std::vector<std::pair<int64_t, std::string>>& children) {
    Op op = TestListing(next_id_++, "/faults/eo/k0", 100);
    for (const auto& [seq, tag] : children) op.children.push_back({Name(seq), tag, 0});
    ops_.push_back(op);
    return *this;
  }
  CreateVerdict Check() const { return CheckExactlyOnce(ops_); }

 private:
  static std::string Name(int64_t seq) { return absl::StrFormat("n-%010d", seq); }
  int64_t next_id_ = 1;
  std::vector<Op> ops_;
};

Counters Base() {
  Counters h;
  h.Increment("c0-0", Outcome::kOk, 1, 0)
      .Increment("c0-1", Outcome::kOk, 3, 1)  // retried twice, applied once
      .Increment("c1-0", Outcome::kUnknown, 10)
      .Increment("c1-1", Outcome::kFail, 1);
  return h;
}

TEST(ExactlyOnceCheckerTest, RetriedIncrementsCountedOncePass) {
  for (bool unknown_applied : {false, true}) {
    Counters h = Base();
    if (unknown_applied) {
      h.List({{0, "c0-0"}, {1, "c0-1"}, {2, "c1-0"}});
    } else {
      h.List({{0, "c0-0"}, {1, "c0-1"}});
    }
    const CreateVerdict v = h.Check();
    EXPECT_TRUE(v.violations.empty()) << Joined(v);
    EXPECT_NE(v.summary.find("4 increments on 1 counters (2 ok, 1 fail, 1 unknown), 15 sends, 1 "
                             "acknowledged after a retry"),
              std::string::npos)
        << v.summary;
  }
}

TEST(ExactlyOnceCheckerTest, RetryAppliedTwiceFails) {
  Counters h = Base();
  // The count (3) alone would pass, as the unknown increment may have
  // applied; the tags show which one applied twice.
  h.List({{0, "c0-0"}, {1, "c0-1"}, {2, "c0-1"}});
  const CreateVerdict v = h.Check();
  ExpectViolation(v, "tag 'c0-1' on n-0000000001 and n-0000000002: one create applied twice");
}

TEST(ExactlyOnceCheckerTest, CountBelowAcknowledgedFails) {
  Counters h = Base();
  h.List({{0, "c0-0"}});
  const CreateVerdict v = h.Check();
  ExpectViolation(v, "missing from listing");
  ExpectViolation(v, "is 1, outside [2 acknowledged");
}

TEST(ExactlyOnceCheckerTest, FailedIncrementCountedFails) {
  Counters h = Base();
  h.List({{0, "c0-0"}, {1, "c0-1"}, {2, "c1-0"}, {3, "c1-1"}});
  const CreateVerdict v = h.Check();
  ExpectViolation(v, "its create failed");
  ExpectViolation(v, "is 4, outside [2 acknowledged, 3 acknowledged + unknown]");
}

}  // namespace
}  // namespace synod::faults
