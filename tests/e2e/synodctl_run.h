// Running the synodctl binary from process-level tests: to completion,
// bounded in time, with its output captured.
#pragma once

#include <string>
#include <vector>

namespace synod::e2e {

// The whole content of a file ("" if it cannot be read).
std::string Slurp(const std::string& path);

struct CtlRun {
  std::string status;  // "exit 0", "exit 14", "timeout", or why it did not start
  std::string output;  // stdout and stderr
};

// Runs synodctl with `args` (at most 60 s; its own --timeout bounds each
// request well below that), its output going to `log_path`.
CtlRun RunSynodctl(const std::vector<std::string>& args, const std::string& log_path);

}  // namespace synod::e2e
