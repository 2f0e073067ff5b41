#include "tests/faults/exactly_once_checker.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace synod::faults {
namespace {

// Hand-written histories of increments on counter /faults/eo/k0.
class Counters {
 public:
  // An increment; `seq` >= 0 for an ok one: the child its reply named.
  Counters& Increment(const std::string& tag, Outcome outcome, int attempts, int64_t seq = -1) {
    Op op;
    op.id = next_id_++;
    op.type = OpType::kCreate;
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
    Op op;
    op.id = next_id_++;
    op.type = OpType::kList;
    op.key = "/faults/eo/k0";
    op.outcome = Outcome::kOk;
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

std::string Joined(const CreateVerdict& v) {
  std::string out;
  for (const std::string& line : v.violations) absl::StrAppend(&out, line, "\n");
  return out;
}

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
  EXPECT_NE(Joined(v).find("tag 'c0-1' on n-0000000001 and n-0000000002: one create applied twice"),
            std::string::npos)
      << Joined(v);
}

TEST(ExactlyOnceCheckerTest, CountBelowAcknowledgedFails) {
  Counters h = Base();
  h.List({{0, "c0-0"}});
  const CreateVerdict v = h.Check();
  EXPECT_NE(Joined(v).find("missing from listing"), std::string::npos) << Joined(v);
  EXPECT_NE(Joined(v).find("is 1, outside [2 acknowledged"), std::string::npos) << Joined(v);
}

TEST(ExactlyOnceCheckerTest, FailedIncrementCountedFails) {
  Counters h = Base();
  h.List({{0, "c0-0"}, {1, "c0-1"}, {2, "c1-0"}, {3, "c1-1"}});
  const CreateVerdict v = h.Check();
  EXPECT_NE(Joined(v).find("its create failed"), std::string::npos) << Joined(v);
  EXPECT_NE(Joined(v).find("is 4, outside [2 acknowledged, 3 acknowledged + unknown]"),
            std::string::npos)
      << Joined(v);
}

}  // namespace
}  // namespace synod::faults
