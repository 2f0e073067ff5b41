// Subprocess: a child process started from a binary and arguments, that is
// always stopped and reaped by its PID.
//
// Destruction (and Stop) send SIGTERM, wait up to a grace period, then
// SIGKILL, and reap the child with waitpid on its own PID: a failing test
// never leaves a process behind. The child also gets PR_SET_PDEATHSIG
// (SIGKILL), so it dies with the test binary even if the binary crashes;
// that signal follows the *thread* that started the child, so start children
// from the test's main thread.
//
// Thread: one owner thread.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace synod::testing {

class Subprocess {
 public:
  struct Options {
    std::string binary;
    std::vector<std::string> args;  // without argv[0]
    // stdout and stderr go here (appended); empty = inherit the test's.
    std::string log_path;
    std::string working_dir;  // empty = inherit
    // SIGTERM -> SIGKILL grace period for Stop() and the destructor.
    absl::Duration stop_grace = absl::Seconds(10);
  };

  // Forks and execs. Errors: Internal if fork fails, NotFound if the binary
  // does not exist or is not executable.
  static absl::StatusOr<Subprocess> Start(const Options& options);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  // True while the child has not been reaped (polls with WNOHANG).
  bool Running();
  // Sends a signal to the child if it is still running.
  void Signal(int sig);
  // kill -9 and reap.
  void Kill();
  // SIGTERM, wait for up to the grace period, then SIGKILL; reaps. Returns
  // the wait status (as from waitpid), or nullopt if there was no child.
  std::optional<int> Stop();
  // Waits for the child to exit on its own, up to `timeout`. Returns its wait
  // status, or DeadlineExceeded (child left running).
  absl::StatusOr<int> Wait(absl::Duration timeout);

  const Options& options() const { return options_; }

 private:
  explicit Subprocess(Options options, pid_t pid) : options_(std::move(options)), pid_(pid) {}
  // Non-blocking reap; true if the child is gone (status recorded).
  bool TryReap();

  Options options_;
  pid_t pid_ = -1;  // -1: no live child
  std::optional<int> exit_status_;
};

// Human-readable form of a waitpid status ("exit 0", "signal 9").
std::string DescribeWaitStatus(int status);

}  // namespace synod::testing
