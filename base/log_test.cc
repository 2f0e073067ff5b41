#include "base/log.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace synod::base {
namespace {

// Runs `body` with stderr redirected to a file; returns what it wrote.
template <typename F>
std::string CaptureStderr(F body) {
  testing::TempDir dir("synod-log-test-");
  const std::string path = dir.Sub("stderr");
  std::fflush(stderr);
  const int saved = dup(2);
  FILE* f = std::fopen(path.c_str(), "w");
  dup2(fileno(f), 2);
  body();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::fclose(f);
  std::stringstream ss;
  ss << std::ifstream(path).rdbuf();
  return ss.str();
}

TEST(LogTest, BackgroundThreadRunsTenNiceLevelsBelowTheOthers) {
  auto nice_of_this_thread = [] {
    errno = 0;
    return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  };
  const int process_nice = nice_of_this_thread();
  int before = -100, after = -100;
  std::thread background([&] {
    before = nice_of_this_thread();
    YieldThreadToForeground();
    after = nice_of_this_thread();
  });
  background.join();
  EXPECT_EQ(before, process_nice);
  EXPECT_EQ(after, std::min(process_nice + 10, 19));
  // Only that thread: the caller's priority is unchanged.
  EXPECT_EQ(nice_of_this_thread(), process_nice);
}

TEST(LogTest, LinesCarryTheirLevelAndLowLevelsAreDropped) {
  const std::string out = CaptureStderr([] {
    SetMinLogLevel(LogLevel::kInfo);
    Log("plain %d", 1);
    Log(LogLevel::kDebug, "hidden");
    Log(LogLevel::kWarning, "event=x key=%s", "v");
    Log(LogLevel::kError, "bad");
    SetMinLogLevel(LogLevel::kDebug);
    Log(LogLevel::kDebug, "shown");
    SetMinLogLevel(LogLevel::kInfo);
  });
  std::istringstream lines(out);
  std::string line;
  std::vector<std::string> tails;
  while (std::getline(lines, line)) {
    // "YYYY-MM-DD HH:MM:SS.mmm L message": the level follows the time.
    ASSERT_GT(line.size(), 24u) << line;
    tails.push_back(line.substr(24));
  }
  EXPECT_EQ(tails, (std::vector<std::string>{"I plain 1", "W event=x key=v", "E bad", "D shown"}));
}

TEST(LogTest, ParsesLevelNames) {
  LogLevel level = LogLevel::kInfo;
  ASSERT_TRUE(ParseLogLevel("WARNING", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  ASSERT_TRUE(ParseLogLevel("d", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  ASSERT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("loud", &level));
  EXPECT_EQ(LogLevelLetter(LogLevel::kInfo), 'I');
}

TEST(LogTest, QuotesValuesThatWouldBreakKeyValueParsing) {
  EXPECT_EQ(LogQuote("abc"), "abc");
  EXPECT_EQ(LogQuote(""), "\"\"");
  EXPECT_EQ(LogQuote("a b"), "\"a b\"");
  EXPECT_EQ(LogQuote("k=v"), "\"k=v\"");
  EXPECT_EQ(LogQuote("say \"x\"\\\n"), "\"say \\\"x\\\"\\\\\\n\"");
}

}  // namespace
}  // namespace synod::base
