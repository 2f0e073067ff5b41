// synodctl's command line, defined with CLI11: the global flags and every
// command (and sub-command: member add, settings get) with its own flags,
// arguments and --help. Values are checked and converted into Args while
// parsing, so a command only runs on a command line that makes sense.
//
// Global flags are accepted anywhere before "--" (CLI11 fallthrough); after
// "--" every word is an argument, so DATA may start with '-' and lock runs
// NAME -- COMMAND... verbatim.
//
// Thread: pure functions (each call builds its own parser).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/synodctl/commands.h"

namespace synod::ctl {

struct CommandLine {
  // A usage error (exit 2): unknown command or flag, missing argument, bad
  // value; the message names it.
  absl::Status error;
  // With no error: the command to run, or nullptr to print `help` (exit 0).
  CommandFn fn = nullptr;
  std::string help;
  // Set with `error` when no command was given: print the help after it.
  bool show_help_after_error = false;
  Args args;
};

CommandLine ParseCommandLine(const std::vector<std::string>& args);

}  // namespace synod::ctl
