#include "tests/faults/session_checker.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/faults/checker_test_util.h"

namespace synod::faults {
namespace {

using testing::ExpectOnlyViolation;
using testing::ExpectViolation;
using testing::Joined;
using testing::TestListing;
using testing::TestOp;

// Hand-written histories of ephemerals under /faults/eph. Times in ms.
class Eph {
 public:
  Eph& Create(const std::string& tag, uint64_t session, int64_t at_ms, Outcome outcome) {
    Op op = At(OpType::kCreate, at_ms, at_ms + 5);
    op.key = absl::StrCat("/faults/eph/", tag);
    op.value = tag;
    op.session = session;
    op.outcome = outcome;
    if (outcome == Outcome::kOk) op.read_value = op.key;
    ops_.push_back(op);
    return *this;
  }
  Eph& Close(uint64_t session, int64_t at_ms, Outcome outcome) {
    Op op = At(OpType::kClose, at_ms, at_ms + 5);
    op.session = session;
    op.outcome = outcome;
    ops_.push_back(op);
    return *this;
  }
  // The library's report of a state, or "held" from from_ms to to_ms.
  Eph& Session(uint64_t session, const std::string& state, int64_t from_ms, int64_t to_ms) {
    Op op = At(OpType::kSession, from_ms, to_ms);
    op.session = session;
    op.value = state;
    op.outcome = Outcome::kOk;
    ops_.push_back(op);
    return *this;
  }
  // A listing at `at_ms` of (tag, owner) children.
  Eph& List(int64_t at_ms, const std::vector<std::pair<std::string, uint64_t>>& children) {
    Op op = TestListing(next_id_++, "/faults/eph", at_ms);
    for (const auto& [tag, owner] : children) op.children.push_back({tag, tag, owner});
    ops_.push_back(op);
    return *this;
  }
  CreateVerdict Check() const { return CheckSessions(ops_); }

 private:
  Op At(OpType type, int64_t from_ms, int64_t to_ms) {
    return TestOp(next_id_++, type, from_ms, to_ms);
  }
  int64_t next_id_ = 1;
  std::vector<Op> ops_;
};

// Session 7 is held to the end; 8 was closed; 9 expired; 10's close was
// not acknowledged.
Eph Passing() {
  Eph h;
  h.Create("c0-0", 7, 0, Outcome::kOk)
      .Create("c0-1", 7, 10, Outcome::kUnknown)  // never applied
      .Create("c1-0", 8, 0, Outcome::kOk)
      .Close(8, 20, Outcome::kOk)
      .Create("c1-1", 0, 30, Outcome::kFail)  // no session at the time
      .Create("c2-0", 9, 0, Outcome::kOk)
      .Session(9, "EXPIRED", 40, 40)
      .Create("c3-0", 10, 0, Outcome::kOk)
      .Close(10, 50, Outcome::kUnknown)
      .Session(7, "held", 100, 200)
      .List(150, {{"c0-0", 7}, {"c3-0", 10}})
      .Close(7, 300, Outcome::kOk)
      .List(400, {{"c3-0", 10}});
  return h;
}

TEST(SessionCheckerTest, HeldEphemeralsStayAndClosedOnesGo) {
  const CreateVerdict v = Passing().Check();
  EXPECT_TRUE(v.violations.empty()) << Joined(v);
  EXPECT_NE(v.summary.find("2 closes acknowledged, 1 not; 1 expiries reported; 1 sessions held"),
            std::string::npos)
      << v.summary;
}

TEST(SessionCheckerTest, HeldSessionsEphemeralMissingFails) {
  Eph h = Passing();
  h.Session(7, "held", 500, 600).List(550, {{"c3-0", 10}});  // c0-0 of live session 7 is gone
  ExpectOnlyViolation(h.Check(), "missing from listing");
}

TEST(SessionCheckerTest, EphemeralOutlivingItsClosedSessionFails) {
  Eph h = Passing();
  h.List(500, {{"c1-0", 8}});  // session 8 was closed at 20
  ExpectOnlyViolation(h.Check(), "outlived its session's close");
}

TEST(SessionCheckerTest, WrongOwnerOrPersistentChildFails) {
  Eph h = Passing();
  h.List(500, {{"c0-0", 9}, {"c2-0", 0}});
  const CreateVerdict v = h.Check();
  ExpectViolation(v, "is owned by session 0x9");
  ExpectViolation(v, "c2-0 is not ephemeral");
}

TEST(SessionCheckerTest, FailedCreateThatAppearsFails) {
  Eph h = Passing();
  h.List(500, {{"c1-1", 11}});
  ExpectOnlyViolation(h.Check(), "its create failed");
}

}  // namespace
}  // namespace synod::faults
