// synodctl's --help texts, rendered from the CLI11 definitions themselves
// (names, arguments, flags and their value types), so a flag listed is a
// flag parsed.
//
// Thread: pure functions.
#pragma once

#include <string>

#include "CLI/CLI.hpp"

namespace synod::ctl {

// synodctl --help: global flags, every command with its usage, notes, exit
// statuses. `root` is the whole command line.
std::string RootHelpText(const CLI::App& root);
// synodctl COMMAND [SUB] --help: the command's usage, summary, arguments,
// own flags (and its sub-commands, if it has them).
std::string CommandHelpText(const CLI::App& command);

}  // namespace synod::ctl
