#include "tests/datadriven/datadriven.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace synod::datadriven {
namespace {

std::string Handle(const TestData& d) {
  if (d.cmd == "echo") {
    std::string out;
    for (const CmdArg& a : d.args) out += (out.empty() ? "" : " ") + a.key;
    return out;
  }
  if (d.cmd == "sum") {
    int sum = 0;
    for (const std::string& v : d.Arg("vals")->vals) sum += std::stoi(v);
    return std::to_string(sum * std::stoi(d.Arg("scale")->vals.at(0)));
  }
  if (d.cmd == "lines") {
    std::string joined = d.input;
    int n = 1;
    for (char& c : joined) {
      if (c == '\n') {
        c = '|';
        ++n;
      }
    }
    return std::to_string(n) + " input lines: " + joined;
  }
  if (d.cmd == "blank-lines") return "a\n\nb\n";
  if (d.cmd == "empty") return "";
  return "unknown command " + d.cmd;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(DataDrivenTest, ParsesArguments) {
  std::string cmd, error;
  std::vector<CmdArg> args;
  ASSERT_TRUE(ParseCommandLine("add-nodes 3 voters=(1,2,3) index=5 flag", &cmd, &args, &error));
  EXPECT_EQ(cmd, "add-nodes");
  ASSERT_EQ(args.size(), 4u);
  EXPECT_EQ(args[0].key, "3");
  EXPECT_TRUE(args[0].vals.empty());
  EXPECT_EQ(args[1].key, "voters");
  EXPECT_EQ(args[1].vals, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(args[2].vals, (std::vector<std::string>{"5"}));
  EXPECT_EQ(args[3].key, "flag");
  EXPECT_FALSE(ParseCommandLine("x a=(1,2", &cmd, &args, &error));
}

TEST(DataDrivenTest, RunsExampleScript) {
  RunDataDrivenTest(std::string(SYNOD_DATADRIVEN_TESTDATA_DIR) + "/example.txt", Handle);
}

TEST(DataDrivenTest, ReportsMismatch) {
  const std::string path = testing::TempDir() + "/datadriven_mismatch.txt";
  {
    std::ofstream out(path);
    out << "echo hi\n----\nbye\n";
  }
  EXPECT_NONFATAL_FAILURE(RunDataDrivenTest(path, Handle), "differs");
  std::remove(path.c_str());
}

TEST(DataDrivenTest, RewriteFixesExpectedOutput) {
  const std::string path = testing::TempDir() + "/datadriven_rewrite.txt";
  {
    std::ofstream out(path);
    out << "# keep me\n\necho hi\n----\nbye\n\nblank-lines\n----\nstale\n";
  }
  setenv("SYNOD_REWRITE", "1", 1);
  RunDataDrivenTest(path, Handle);
  unsetenv("SYNOD_REWRITE");
  EXPECT_EQ(ReadFile(path),
            "# keep me\n\necho hi\n----\nhi\n\nblank-lines\n----\n----\na\n\nb\n----\n----\n");
  // And the rewritten file now passes.
  RunDataDrivenTest(path, Handle);
  std::remove(path.c_str());
}

TEST(DataDrivenTest, ListsFilesSorted) {
  std::vector<std::string> files = ListTestFiles(SYNOD_DATADRIVEN_TESTDATA_DIR, ".txt");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(std::filesystem::path(files[0]).filename(), "example.txt");
}

}  // namespace
}  // namespace synod::datadriven
