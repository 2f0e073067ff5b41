#include "tests/faults/sequential_checker.h"

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/faults/checker_test_util.h"

namespace synod::faults {
namespace {

using testing::ExpectOnlyViolation;
using testing::ExpectViolation;
using testing::Joined;
using testing::TestListing;
using testing::TestOp;

// Hand-written histories: creates under /faults/seq, then final listings.
class Seq {
 public:
  // A create sent at `from_ms`, answered at `to_ms`; `seq` >= 0 is the
  // sequence number its reply named (ok outcomes).
  Seq& Create(const std::string& tag, int64_t from_ms, int64_t to_ms, Outcome outcome,
              int64_t seq = -1) {
    Op op = TestOp(next_id_++, OpType::kCreate, from_ms, to_ms);
    op.key = "/faults/seq/n-";
    op.value = tag;
    op.outcome = outcome;
    if (outcome == Outcome::kOk) op.read_value = Path(seq);
    ops_.push_back(op);
    return *this;
  }
  // A final listing of (sequence, tag) children.
  Seq& List(const std::vector<std::pair<int64_t, std::string>>& children) {
    Op op = TestListing(next_id_++, "/faults/seq", 100'000);
    for (const auto& [seq, tag] : children) {
      op.children.push_back({Path(seq).substr(op.key.size() + 1), tag, 0});
    }
    ops_.push_back(op);
    return *this;
  }
  static std::string Path(int64_t seq) { return absl::StrFormat("/faults/seq/n-%010d", seq); }
  CreateVerdict Check() const { return CheckSequential(ops_); }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  int64_t next_id_ = 1;
  std::vector<Op> ops_;
};

TEST(SequenceOfTest, ParsesTheSuffix) {
  EXPECT_EQ(SequenceOf("/faults/seq/n-0000000042"), 42);
  EXPECT_EQ(SequenceOf("/faults/seq/n-"), -1);
  EXPECT_EQ(SequenceOf("/faults/seq/n-00000x0042"), -1);
}

TEST(SequentialCheckerTest, OrderedCreatesWithUnknownsPass) {
  Seq h;
  h.Create("c0-0", 0, 10, Outcome::kOk, 0)
      .Create("c1-0", 5, 15, Outcome::kOk, 2)  // concurrent with c0-0: any order
      .Create("c2-0", 6, 9, Outcome::kOk, 1)
      .Create("c0-1", 20, 30, Outcome::kUnknown)  // took 3
      .Create("c1-1", 21, 31, Outcome::kUnknown)  // never applied
      .Create("c2-1", 22, 25, Outcome::kFail)
      .Create("c0-2", 40, 50, Outcome::kOk, 4)
      .List({{0, "c0-0"}, {1, "c2-0"}, {2, "c1-0"}, {3, "c0-1"}, {4, "c0-2"}});
  const CreateVerdict v = h.Check();
  EXPECT_TRUE(v.violations.empty()) << Joined(v);
  EXPECT_NE(v.summary.find("7 creates (4 ok, 1 fail, 2 unknown)"), std::string::npos)
      << v.summary;
}

TEST(SequentialCheckerTest, SequenceAgainstRealTimeOrderFails) {
  Seq h;
  // c0-0 was acknowledged before c1-0 was sent, yet got the higher number.
  h.Create("c0-0", 0, 10, Outcome::kOk, 1)
      .Create("c1-0", 11, 20, Outcome::kOk, 0)
      .List({{0, "c1-0"}, {1, "c0-0"}});
  ExpectOnlyViolation(h.Check(), "out of real-time order");
}

TEST(SequentialCheckerTest, AcknowledgedCreateMissingFails) {
  Seq h;
  h.Create("c0-0", 0, 10, Outcome::kOk, 0).Create("c0-1", 20, 30, Outcome::kOk, 1).List(
      {{0, "c0-0"}});
  ExpectOnlyViolation(h.Check(), "missing from listing");
}

TEST(SequentialCheckerTest, DuplicateNameFails) {
  Seq h;
  h.Create("c0-0", 0, 10, Outcome::kOk, 0).Create("c1-0", 0, 10, Outcome::kOk, 0).List(
      {{0, "c0-0"}});
  ExpectViolation(h.Check(), "two acknowledged creates named");
}

TEST(SequentialCheckerTest, ChildNobodyCreatedFails) {
  Seq h;
  h.Create("c0-0", 0, 10, Outcome::kOk, 0).List({{0, "c0-0"}, {1, "c9-9"}});
  ExpectOnlyViolation(h.Check(), "which no client created here");
}

TEST(SequentialCheckerTest, FailedCreateThatAppearsFails) {
  Seq h;
  h.Create("c0-0", 0, 10, Outcome::kFail).List({{0, "c0-0"}});
  ExpectOnlyViolation(h.Check(), "its create failed");
}

TEST(SequentialCheckerTest, UnknownCreateAppliedTwiceFails) {
  Seq h;
  h.Create("c0-0", 0, 10, Outcome::kUnknown).List({{0, "c0-0"}, {1, "c0-0"}});
  ExpectOnlyViolation(h.Check(), "applied twice");
}

TEST(SequentialCheckerTest, SurvivesTheJsonRoundTrip) {
  // `synod-faults check` reads histories back from history.jsonl: created
  // paths and listed children must survive it, violation included.
  Seq h;
  h.Create("c0-0", 0, 10, Outcome::kOk, 1).Create("c1-0", 11, 20, Outcome::kOk, 0).List(
      {{0, "c1-0"}, {1, "c0-0"}});
  std::vector<Op> read;
  for (const Op& op : h.ops()) {
    absl::StatusOr<Op> back = FromJsonLine(ToJsonLine(op));
    ASSERT_TRUE(back.ok()) << back.status();
    read.push_back(*back);
  }
  ASSERT_EQ(read.back().children.size(), 2u);
  EXPECT_EQ(read.back().children[1].data, "c0-0");
  ExpectOnlyViolation(CheckSequential(read), "out of real-time order");
}

}  // namespace
}  // namespace synod::faults
