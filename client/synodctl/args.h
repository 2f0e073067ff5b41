// Command-line parsing for synodctl: global flags anywhere before "--",
// each command's own flags, positional arguments, and everything after "--"
// kept verbatim (lock NAME -- COMMAND...).
//
// Flags: --name=value, --name value (for flags that take one), --flag (for
// booleans), and short forms declared per flag (-o json). A lone "-" is a
// positional argument (stdin as DATA).
//
// Thread: pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace synod::ctl {

struct FlagSpec {
  std::string name;
  bool takes_value = false;
  char short_name = 0;
  std::string help = "";  // one line, for COMMAND --help
};

struct ParsedArgs {
  std::map<std::string, std::string> flags;  // booleans map to "true"
  std::vector<std::string> positional;
  std::vector<std::string> rest;  // after "--"
  bool saw_dashdash = false;

  bool Has(const std::string& name) const { return flags.contains(name); }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
};

// Errors: INVALID_ARGUMENT naming the unknown flag or missing value.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<FlagSpec>& specs);

// The first positional word (the command) and, if `with_sub`, the second;
// skips flags (using `specs` to know which take a separate value).
std::vector<std::string> CommandWords(const std::vector<std::string>& args,
                                      const std::vector<FlagSpec>& specs, size_t count);

// "5s", "250ms", "1m30s" (absl duration syntax), or a bare number of
// seconds. Errors: INVALID_ARGUMENT.
absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& name, const std::string& value);
absl::StatusOr<int64_t> ParseIntFlag(const std::string& name, const std::string& value);
absl::StatusOr<uint64_t> ParseUintFlag(const std::string& name, const std::string& value);

// Splits one line of a multi script into words: whitespace separates,
// '...' and "..." quote (backslash escapes inside double quotes).
absl::StatusOr<std::vector<std::string>> SplitWords(const std::string& line);

}  // namespace synod::ctl
