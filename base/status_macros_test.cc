#include "base/status_macros.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace synod::base {
namespace {

int calls = 0;

absl::Status Counted(absl::Status s) {
  ++calls;
  return s;
}

absl::StatusOr<std::string> Text(bool ok) {
  ++calls;
  if (!ok) return absl::NotFoundError("no text");
  return std::string("text");
}

absl::StatusOr<std::unique_ptr<int>> Boxed(int v) { return std::make_unique<int>(v); }

absl::Status TwoSteps(absl::Status first, absl::Status second, int* reached) {
  SYNOD_RETURN_IF_ERROR(Counted(first));
  *reached = 1;
  SYNOD_RETURN_IF_ERROR(Counted(second));
  *reached = 2;
  return absl::OkStatus();
}

TEST(StatusMacrosTest, ReturnIfErrorReturnsTheFirstFailureAndEvaluatesOnce) {
  int reached = 0;
  calls = 0;
  EXPECT_TRUE(TwoSteps(absl::OkStatus(), absl::OkStatus(), &reached).ok());
  EXPECT_EQ(reached, 2);
  EXPECT_EQ(calls, 2);

  reached = 0;
  calls = 0;
  const absl::Status s = TwoSteps(absl::OkStatus(), absl::DataLossError("torn"), &reached);
  EXPECT_EQ(s, absl::DataLossError("torn"));
  EXPECT_EQ(reached, 1);
  EXPECT_EQ(calls, 2);

  reached = 0;
  EXPECT_EQ(TwoSteps(absl::AbortedError("first"), absl::OkStatus(), &reached),
            absl::AbortedError("first"));
  EXPECT_EQ(reached, 0);
}

// Every lhs form in one function: several expansions on separate lines must
// not clash, and the value is moved (a unique_ptr compiles).
absl::StatusOr<std::string> AllForms(bool ok_last) {
  SYNOD_ASSIGN_OR_RETURN(auto a, Text(true));
  SYNOD_ASSIGN_OR_RETURN(std::string b, Text(true));
  std::string c = "old";
  SYNOD_ASSIGN_OR_RETURN(c, Text(true));
  SYNOD_ASSIGN_OR_RETURN(std::unique_ptr<int> boxed, Boxed(7));
  SYNOD_ASSIGN_OR_RETURN(auto d, Text(ok_last));
  return a + b + c + std::to_string(*boxed) + d;
}

TEST(StatusMacrosTest, AssignOrReturnDeclaresOrAssigns) {
  calls = 0;
  absl::StatusOr<std::string> all = AllForms(true);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, "texttexttext7text");
  EXPECT_EQ(calls, 4);
}

TEST(StatusMacrosTest, AssignOrReturnReturnsTheStatusAndLeavesLhsUnchanged) {
  calls = 0;
  EXPECT_EQ(AllForms(false).status(), absl::NotFoundError("no text"));
  EXPECT_EQ(calls, 4);

  auto keep = [](std::string* out) -> absl::Status {
    SYNOD_ASSIGN_OR_RETURN(*out, Text(false));
    return absl::OkStatus();
  };
  std::string out = "unchanged";
  EXPECT_EQ(keep(&out), absl::NotFoundError("no text"));
  EXPECT_EQ(out, "unchanged");
}

}  // namespace
}  // namespace synod::base
