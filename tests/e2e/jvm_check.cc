#include "tests/e2e/jvm_check.h"

#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

#if !defined(SYNOD_JAVA)
#error "SYNOD_JAVA must name the java launcher"
#endif

namespace synod::e2e {

absl::StatusOr<testing::Subprocess> StartJvmCheck(const JvmCheck& check) {
  testing::Subprocess::Options options;
  options.binary = SYNOD_JAVA;
  options.args = check.jvm_flags;
  options.args.insert(options.args.end(), {"-cp", check.classpath, check.main_class});
  options.args.insert(options.args.end(), check.args.begin(), check.args.end());
  options.log_path = check.log_path;
  return testing::Subprocess::Start(options);
}

JvmCheckResult WaitForJvmCheck(testing::Subprocess& process, absl::Duration timeout) {
  JvmCheckResult result;
  absl::StatusOr<int> status = process.Wait(timeout);
  std::stringstream log;
  log << std::ifstream(process.options().log_path).rdbuf();
  result.log = log.str();
  if (!status.ok()) {
    result.status = absl::DeadlineExceededError(
        absl::StrCat("still running after ", absl::FormatDuration(timeout)));
  } else if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    result.status = absl::InternalError(testing::DescribeWaitStatus(*status));
  }
  return result;
}

}  // namespace synod::e2e
