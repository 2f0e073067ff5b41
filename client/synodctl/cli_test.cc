// synodctl's command line without a cluster: --help generated from the
// CLI11 definitions, and bad input refused before anything is sent.
#include "client/synodctl/cli.h"

#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/synodctl/ctl.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace synod::ctl {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int code;
  std::string out;
  std::string err;
};

// One in-process run against an address nothing listens on: every case
// here ends before a request is sent.
Result RunCtl(std::vector<std::string> args) {
  std::istringstream in;
  std::ostringstream out, err;
  Io io;
  io.in = &in;
  io.out = &out;
  io.err = &err;
  args.insert(args.begin(), "--endpoints=127.0.0.1:1");
  const int code = RunSynodctl(args, io);
  return Result{code, out.str(), err.str()};
}

// Sub-commands have their own help, generated from their definitions: the
// usage line, the flags, and (for a group) its commands.
TEST(SynodctlCli, SubcommandHelp) {
  Result get = RunCtl({"settings", "get", "-h"});
  EXPECT_EQ(get.code, 0);
  EXPECT_THAT(get.out, StartsWith("Usage: synodctl [global flags] settings get\n"));
  Result set = RunCtl({"settings", "set", "--help"});
  EXPECT_EQ(set.code, 0);
  EXPECT_THAT(set.out,
              StartsWith("Usage: synodctl [global flags] settings set [--max_data_bytes=N]"));
  for (const char* flag : {"max_data_bytes", "max_multi_ops", "history_per_node",
                           "min_session_timeout_ms", "max_session_timeout_ms"}) {
    EXPECT_THAT(set.out, HasSubstr(absl::StrCat("\n  --", flag, "=N"))) << flag;
  }
  Result member = RunCtl({"member", "--help"});
  EXPECT_EQ(member.code, 0);
  EXPECT_THAT(member.out, AllOf(StartsWith("Usage: synodctl [global flags] member COMMAND\n"),
                                HasSubstr("\n  member add ID PEER_ADDR CLIENT_ADDR\n"),
                                HasSubstr("\n  member remove ID\n")));
  EXPECT_EQ(RunCtl({"help"}).out, RunCtl({"--help"}).out);
}

// Every flag synodctl --help lists in a command's usage is one that
// command's parser takes.
TEST(SynodctlCli, HelpListsOnlyFlagsTheParserTakes) {
  const std::string help = HelpText();
  const size_t begin = help.find("\nCommands:\n");
  ASSERT_NE(begin, std::string::npos);
  int flags = 0;
  for (absl::string_view line :
       absl::StrSplit(help.substr(begin + 11, help.find("\n\n", begin + 11) - begin - 11), '\n')) {
    if (!absl::StartsWith(line, "  ") || absl::StartsWith(line, "   ")) continue;
    std::vector<std::string> words = absl::StrSplit(line.substr(2), ' ');
    std::vector<std::string> command;
    for (const std::string& w : words) {
      if (w.empty() || w[0] == '[' || absl::AsciiStrToUpper(w) == w) break;
      command.push_back(w);
    }
    for (const std::string& w : words) {
      if (!absl::StartsWith(w, "[--")) continue;
      std::string flag = w.substr(1, w.size() - 2);
      ++flags;
      // A value that may be refused, but the flag itself must be known.
      if (const size_t eq = flag.find('='); eq != std::string::npos)
        flag = flag.substr(0, eq + 1) + "1";
      std::vector<std::string> args = command;
      args.push_back(flag);
      const CommandLine parsed = ParseCommandLine(args);
      EXPECT_THAT(std::string(parsed.error.message()), ::testing::Not(HasSubstr("unknown flag")))
          << absl::StrJoin(args, " ");
    }
  }
  EXPECT_GE(flags, 20);
}

// Bad values are refused before anything is sent, with an error that names
// the flag or argument.
TEST(SynodctlCli, ValidationErrorsNameTheirFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"ls", "--limit=0", "/"}, "--limit: \"0\" is not an integer from 1 to"},
      {{"history", "--limit=x", "/"}, "--limit"},
      {{"get", "--revision=-1", "/"}, "--revision"},
      {{"get", "--version=1.5", "/"}, "--version"},
      {{"watch", "--from_revision=soon", "/"}, "--from_revision"},
      {{"create", "--ttl=0s", "/t"}, "--ttl: \"0s\" is not a positive duration"},
      {{"settings", "set", "--max_multi_ops=0"}, "--max_multi_ops"},
      {{"settings", "set", "--max_multi_ops=4294967296"}, "--max_multi_ops"},
      {{"settings", "set"}, "give at least one setting"},
      {{"member", "add", "x", "a:1", "b:2"}, "\"x\" is not a member id"},
      {{"member", "promote", "0"}, "\"0\" is not a member id"},
      {{"member", "add", "4", "a:1"}, "CLIENT_ADDR is required"},
      {{"member"}, "member needs one of its commands: list, add, promote, remove"},
      {{"member", "frob"}, "unknown command \"member frob\""},
      {{"get", "/a", "/b"}, "unexpected argument \"/b\""},
      {{"get", "--nope=1", "/a"}, "unknown flag --nope"},
      {{"-o", "yaml", "get", "/a"}, "--output: \"yaml\" is not one of text, json"},
      {{"get", "--consistency=weird", "/a"}, "--consistency"},
      {{"ls", "--page_token=t", "/"}, "--page_token requires --limit"},
      {{"lock", "job", "sh"}, "put \"--\" between NAME and COMMAND"},
      {{"snapshot", "save"}, "FILE is required"},
  };
  for (const auto& [args, message] : cases) {
    Result r = RunCtl(args);
    EXPECT_EQ(r.code, kExitUsage) << absl::StrJoin(args, " ") << ": " << r.err;
    EXPECT_THAT(r.err, AllOf(StartsWith("Error: USAGE: "), HasSubstr(message)))
        << absl::StrJoin(args, " ");
    EXPECT_EQ(r.out, "") << absl::StrJoin(args, " ");
  }
}

}  // namespace
}  // namespace synod::ctl
