#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/free_port.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod::testing {
namespace {

TEST(TempDirTest, CreatedAndRemoved) {
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    ASSERT_TRUE(std::filesystem::is_directory(path));
    std::ofstream(dir.Sub("f")) << "x";
    std::filesystem::create_directories(dir.Sub("a/b"));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(FreePortTest, DistinctPorts) {
  const int a = FreePort();
  const int b = FreePort();
  EXPECT_GT(a, 0);
  EXPECT_NE(a, b);
}

TEST(WaitUntilTest, TrueAndTimeout) {
  int calls = 0;
  EXPECT_TRUE(WaitUntil([&] { return ++calls >= 3; }, absl::Seconds(5), absl::Milliseconds(1)));
  EXPECT_EQ(calls, 3);
  const absl::Time start = absl::Now();
  EXPECT_FALSE(WaitUntil([] { return false; }, absl::Milliseconds(50), absl::Milliseconds(5)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
}

TEST(SubprocessTest, ExitStatusAndLog) {
  TempDir dir;
  Subprocess::Options options;
  options.binary = "/bin/sh";
  options.args = {"-c", "echo hello; exit 3"};
  options.log_path = dir.Sub("log");
  auto p = Subprocess::Start(options);
  ASSERT_TRUE(p.ok()) << p.status();
  auto status = p->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(DescribeWaitStatus(*status), "exit 3");
  std::ifstream in(dir.Sub("log"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "hello");
}

TEST(SubprocessTest, StopEscalatesToKill) {
  // The child ignores SIGTERM: Stop must fall back to SIGKILL and reap it.
  TempDir dir;
  const std::string ready = dir.Sub("ready");
  Subprocess::Options options;
  options.binary = "/bin/sh";
  options.args = {"-c", "trap '' TERM; touch " + ready + "; while :; do sleep 1; done"};
  options.stop_grace = absl::Milliseconds(200);
  auto p = Subprocess::Start(options);
  ASSERT_TRUE(p.ok()) << p.status();
  const pid_t pid = p->pid();
  ASSERT_TRUE(p->Running());
  // Signal only once the shell has installed its trap.
  ASSERT_TRUE(WaitUntil([&] { return std::filesystem::exists(ready); }, absl::Seconds(10)));
  auto status = p->Stop();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGKILL);
  EXPECT_NE(kill(pid, 0), 0);  // reaped: the PID no longer exists for us
}

TEST(SubprocessTest, DestructorStops) {
  pid_t pid;
  {
    Subprocess::Options options;
    options.binary = "/bin/sleep";
    options.args = {"60"};
    auto p = Subprocess::Start(options);
    ASSERT_TRUE(p.ok());
    pid = p->pid();
  }
  EXPECT_NE(kill(pid, 0), 0);
}

TEST(SubprocessTest, MissingBinary) {
  Subprocess::Options options;
  options.binary = "/nonexistent/synod";
  auto p = Subprocess::Start(options);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace synod::testing
