#include "tests/testing/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace synod::testing {

absl::StatusOr<Subprocess> Subprocess::Start(const Options& options) {
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("not an executable: ", options.binary));
  }
  // Everything the child needs is built before fork: after fork only
  // async-signal-safe calls are allowed in a multi-threaded parent.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(options.binary);
  argv_storage.insert(argv_storage.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log_fd = -1;
  if (!options.log_path.empty()) {
    log_fd = open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      return absl::InternalError(
          absl::StrCat("open ", options.log_path, ": ", std::strerror(errno)));
    }
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    if (log_fd >= 0) close(log_fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    if (log_fd >= 0) {
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
    }
    if (!options.working_dir.empty() && chdir(options.working_dir.c_str()) != 0) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (log_fd >= 0) close(log_fd);
  return Subprocess(options, pid);
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : options_(std::move(other.options_)),
      pid_(std::exchange(other.pid_, -1)),
      exit_status_(other.exit_status_) {}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    Stop();
    options_ = std::move(other.options_);
    pid_ = std::exchange(other.pid_, -1);
    exit_status_ = other.exit_status_;
  }
  return *this;
}

Subprocess::~Subprocess() { Stop(); }

bool Subprocess::TryReap() {
  if (pid_ < 0) return true;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = status;
    pid_ = -1;
    return true;
  }
  if (r < 0 && errno == ECHILD) {  // not ours any more (cannot happen normally)
    pid_ = -1;
    return true;
  }
  return false;
}

bool Subprocess::Running() { return !TryReap(); }

void Subprocess::Signal(int sig) {
  if (!TryReap()) kill(pid_, sig);
}

void Subprocess::Kill() {
  if (TryReap()) return;
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = status;
  pid_ = -1;
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!TryReap()) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("pid ", pid_, " still running"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (!exit_status_.has_value()) return absl::InternalError("child vanished");
  return *exit_status_;
}

std::optional<int> Subprocess::Stop() {
  if (pid_ < 0) return exit_status_;
  if (TryReap()) return exit_status_;
  kill(pid_, SIGTERM);
  if (Wait(options_.stop_grace).ok()) return exit_status_;
  std::fprintf(stderr, "Subprocess: pid %d ignored SIGTERM for %s; sending SIGKILL\n",
               static_cast<int>(pid_), absl::FormatDuration(options_.stop_grace).c_str());
  Kill();
  return exit_status_;
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("signal ", WTERMSIG(status));
  return absl::StrCat("status ", status);
}

}  // namespace synod::testing
