// RunCommand: runs a program (found on PATH) with arguments, waits for it,
// and returns what it wrote to stdout and stderr. For the `ip` and `tc`
// calls that build and break the fault-test network.
//
// Thread: any (posix_spawn; nothing but the child runs between fork and
// exec).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace synod::faults {

// Errors: Internal if it cannot start or exits non-zero (with its output).
absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv);

// The absolute path of `program` on PATH (and /usr/sbin, /sbin), or NotFound.
absl::StatusOr<std::string> FindProgram(const std::string& program);

}  // namespace synod::faults
