// synodctl: wires RunSynodctl to the process: stdio, environment, and
// SIGINT/SIGTERM (taken by a signal thread, so the client's threads never
// run signal handlers).
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "client/synodctl/ctl.h"

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
  std::vector<std::string> args(argv + 1, argv + argc);
  const int code = synod::ctl::RunSynodctl(args, io);
  std::cout.flush();
  return code;
}
