// A small runner for scripted tests: each file is a list of blocks
//
//   # comment
//   command arg key=value key=(v1,v2)
//   optional input lines
//   ----
//   expected output
//   <blank line>
//
// Output that contains blank lines is written between two "----" lines
// after the first separator and ends with two "----" lines.
// RunDataDrivenTest calls the handler per block and reports every mismatch
// as a GoogleTest failure naming file:line. With SYNOD_REWRITE=1 in the
// environment it rewrites the expected output in place instead; review the
// diff before committing it.
//
// Thread: single-threaded, like the tests that use it.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace synod::datadriven {

struct CmdArg {
  std::string key;
  std::vector<std::string> vals;  // `key=v` -> {v}; `key=(a,b)` -> {a, b}; `key` -> {}
};

struct TestData {
  std::string pos;  // file:line of the command
  std::string cmd;
  std::vector<CmdArg> args;
  std::string input;     // lines between the command and "----", '\n'-joined
  std::string expected;  // as written in the file, ending in '\n' if not empty

  bool HasArg(const std::string& key) const { return Arg(key) != nullptr; }
  const CmdArg* Arg(const std::string& key) const;
};

// Splits a command line into the command and its arguments. Returns false
// (with *error set) on unbalanced parentheses.
bool ParseCommandLine(const std::string& line, std::string* cmd, std::vector<CmdArg>* args,
                      std::string* error);

// Runs every block of `path` through `handler`.
void RunDataDrivenTest(const std::string& path,
                       const std::function<std::string(const TestData&)>& handler);

// The files in `dir` whose names end with `suffix`, sorted, as full paths.
std::vector<std::string> ListTestFiles(const std::string& dir, const std::string& suffix);

}  // namespace synod::datadriven
