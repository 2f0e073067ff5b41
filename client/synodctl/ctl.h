// synodctl as a library: RunSynodctl parses a command line and runs it
// against a cluster, writing to the given streams, and returns the process
// exit status. main.cc only wires it to the real process (stdio, signals,
// environment); tests call it in-process.
//
// Thread-safety: one RunSynodctl per Io. Output may be written from the
// client's callback thread (watch, elect); Io::Write serializes it.
#pragma once

#include <atomic>
#include <functional>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace synod::ctl {

struct Io {
  std::istream* in = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool out_is_tty = false;
  // Notified on SIGINT/SIGTERM: commands that hold (watch, elect, lock,
  // create --ephemeral) end cleanly.
  const absl::Notification* interrupt = nullptr;
  // Set by commands that end cleanly on `interrupt`; main exits at once on
  // a signal otherwise.
  std::atomic<bool> handles_interrupt{false};
  // Environment lookup (SYNOD_ENDPOINTS, SYNOD_PASSWORD).
  std::function<std::optional<std::string>(const std::string&)> getenv;
  // Reads a secret from the terminal with echo off after showing `prompt`;
  // nullopt when there is no terminal (or this is unset).
  std::function<std::optional<std::string>(const std::string& prompt)> read_secret;

  // Writes to out / err under one mutex, flushing (output is watched live).
  void Out(absl::string_view text);
  void Err(absl::string_view text);

 private:
  absl::Mutex mu_;
};

// Exit statuses (also printed by --help).
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,        // anything not below (INTERNAL, UNKNOWN...)
  kExitUsage = 2,        // bad command line
  kExitNoNode = 3,       // NO_NODE
  kExitNodeExists = 4,   // NODE_EXISTS
  kExitBadVersion = 5,   // BAD_VERSION
  kExitNotEmpty = 6,     // NOT_EMPTY
  kExitBadRequest = 7,   // INVALID_PATH, INVALID_ARGUMENT, TOO_LARGE, ...
  kExitSession = 8,      // SESSION_EXPIRED, AUTH_FAILED, EPHEMERAL_NEEDS_SESSION
  kExitUnavailable = 9,  // UNAVAILABLE, NOT_LEADER: no replica could serve
  kExitTimeout = 10,     // DEADLINE_EXCEEDED: a write's outcome is unknown
  kExitCompacted = 11,   // COMPACTED
  kExitMembership = 12,  // MEMBER_EXISTS, MEMBER_NOT_FOUND, LEARNER_NOT_READY, ...
  kExitDataLoss = 13,    // DATA_LOSS (also: replicas' digests differ)
  kExitAccess = 14,      // PERMISSION_DENIED, UNAUTHENTICATED
};

// The exit status for an error (kExitOk for OK).
int ExitCodeFor(const absl::Status& status);
// "BAD_VERSION: expected 3, found 4" (the code name first).
std::string DescribeError(const absl::Status& status);
// An error that means "bad command line" (exit 2).
absl::Status UsageError(absl::string_view message);

// Runs `args` (without argv[0]). Returns the exit status.
int RunSynodctl(const std::vector<std::string>& args, Io& io);

// The --help text.
std::string HelpText();

}  // namespace synod::ctl
