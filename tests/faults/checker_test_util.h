// Helpers for the create-based checkers' unit tests: hand-written ops and
// what a verdict must say.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/faults/create_checks.h"
#include "tests/faults/history.h"

namespace synod::faults::testing {

// An op of `type` sent at from_ms and answered at to_ms (run-clock ms).
inline Op TestOp(int64_t id, OpType type, int64_t from_ms, int64_t to_ms) {
  Op op;
  op.id = id;
  op.type = type;
  op.invoke_ns = from_ms * 1'000'000;
  op.complete_ns = to_ms * 1'000'000;
  return op;
}

// A listing of `parent` (ok) with no children yet.
inline Op TestListing(int64_t id, const std::string& parent, int64_t at_ms) {
  Op op = TestOp(id, OpType::kList, at_ms, at_ms + 5);
  op.key = parent;
  op.outcome = Outcome::kOk;
  return op;
}

inline std::string Joined(const CreateVerdict& v) {
  std::string out;
  for (const std::string& line : v.violations) absl::StrAppend(&out, line, "\n");
  return out;
}

// The verdict holds exactly one violation, and it says `text`.
inline void ExpectOnlyViolation(const CreateVerdict& v, const std::string& text) {
  ASSERT_EQ(v.violations.size(), 1u) << Joined(v);
  EXPECT_NE(v.violations[0].find(text), std::string::npos) << Joined(v);
}

// Some violation says `text`.
inline void ExpectViolation(const CreateVerdict& v, const std::string& text) {
  EXPECT_NE(Joined(v).find(text), std::string::npos) << Joined(v);
}

}  // namespace synod::faults::testing
