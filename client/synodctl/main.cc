// synodctl: wires RunSynodctl to the process: stdio, environment, and
// SIGINT/SIGTERM (taken by a signal thread, so the client's threads never
// run signal handlers).
#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "client/synodctl/ctl.h"

namespace {

// Reads one line from the controlling terminal with echo off (the
// password never shows on screen nor in the shell's history); nullopt
// without a terminal.
std::optional<std::string> ReadSecretFromTty(const std::string& prompt) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  termios old_mode;
  if (tcgetattr(fd, &old_mode) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  termios quiet = old_mode;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  bool ok = ::write(fd, prompt.data(), prompt.size()) == static_cast<ssize_t>(prompt.size()) &&
            tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
  std::string line;
  char c = 0;
  while (ok && ::read(fd, &c, 1) == 1 && c != '\n') line.push_back(c);
  tcsetattr(fd, TCSAFLUSH, &old_mode);
  ::close(fd);
  if (!ok) return std::nullopt;
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the signals in every thread (those started later inherit the
  // mask); one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed pipe ends output, not the process

  static absl::Notification interrupt;
  static synod::ctl::Io io;
  std::thread([signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    // Commands that hold something end cleanly (release, resign); the
    // others have nothing to clean up. A second signal always ends it.
    if (!io.handles_interrupt.load()) _exit(128 + sig);
    interrupt.Notify();
    sigwait(&signals, &sig);
    _exit(128 + sig);
  }).detach();

  io.in = &std::cin;
  io.out = &std::cout;
  io.err = &std::cerr;
  io.out_is_tty = isatty(STDOUT_FILENO) == 1;
  io.interrupt = &interrupt;
  io.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  io.read_secret = ReadSecretFromTty;
  std::vector<std::string> args(argv + 1, argv + argc);
  const int code = synod::ctl::RunSynodctl(args, io);
  std::cout.flush();
  return code;
}
