// Running the Java check programs (tests/e2e/*Check.java, compiled by
// synod_java_check in CMakeLists.txt) from process-level tests: started
// with the JDK's java, output to a log file, waited for with a bound.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/subprocess.h"

namespace synod::e2e {

struct JvmCheck {
  std::string main_class;              // "CuratorCheck"
  std::string classpath;               // the compiled classes, then the jars
  std::vector<std::string> jvm_flags;  // before -cp ("-Dkey=value")
  std::vector<std::string> args;       // the program's own arguments
  std::string log_path;                // stdout and stderr
};

// Starts the program. Errors: as testing::Subprocess::Start.
absl::StatusOr<testing::Subprocess> StartJvmCheck(const JvmCheck& check);

struct JvmCheckResult {
  // OK: the program exited 0. DeadlineExceeded: still running after the
  // timeout (the Subprocess stops it when destroyed); Internal: any other
  // end ("exit 1", "signal 9").
  absl::Status status;
  std::string log;  // everything it printed
};

// Waits up to `timeout` for a program StartJvmCheck started.
JvmCheckResult WaitForJvmCheck(testing::Subprocess& process, absl::Duration timeout);

}  // namespace synod::e2e
