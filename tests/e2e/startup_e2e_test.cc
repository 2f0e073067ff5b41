// The `synod` binary's start-up as a new user meets it: --help, and ports
// that another process already holds.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/free_port.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace synod::e2e {
namespace {

// A socket listening on 127.0.0.1:port (any free port), closed on
// destruction: stands for another process holding the port.
class HeldPort {
 public:
  HeldPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(fd_, 1) != 0) {
      ADD_FAILURE() << "cannot hold a port";
      return;
    }
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~HeldPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  std::string addr() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct SynodRun {
  std::string exit;  // "exit 0", "signal 11", ...
  std::string output;
};

// Runs synod with `args` to its end (bounded), stdout and stderr together.
SynodRun RunSynod(const testing::TempDir& dir, const std::vector<std::string>& args) {
  testing::Subprocess::Options o;
  o.binary = SYNOD_BINARY;
  o.args = args;
  o.log_path = dir.Sub("synod.log");
  o.working_dir = dir.path();
  SynodRun run;
  absl::StatusOr<testing::Subprocess> p = testing::Subprocess::Start(o);
  if (!p.ok()) {
    run.exit = p.status().ToString();
    return run;
  }
  absl::StatusOr<int> status = p->Wait(absl::Seconds(30));
  run.exit = status.ok() ? testing::DescribeWaitStatus(*status) : "still running";
  std::ifstream log(o.log_path);
  std::stringstream text;
  text << log.rdbuf();
  run.output = text.str();
  return run;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

TEST(StartupTest, PeerPortInUseIsNamedAndNoDataDirIsCreated) {
  testing::TempDir dir;
  HeldPort held;
  const std::string data = dir.Sub("data");
  SynodRun run = RunSynod(dir, {"--data_dir=" + data, "--peer_addr=" + held.addr(),
                           absl::StrCat("--client_addr=127.0.0.1:", testing::FreePort())});
  EXPECT_EQ(run.exit, "exit 1") << run.output;
  EXPECT_NE(run.output.find(held.addr()), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("in use"), std::string::npos) << run.output;
  EXPECT_FALSE(Exists(data)) << "a failed start left " << data;
}

TEST(StartupTest, ClientPortInUseIsNamedAndNoDataDirIsCreated) {
  testing::TempDir dir;
  HeldPort held;
  const std::string data = dir.Sub("data");
  SynodRun run = RunSynod(dir, {"--data_dir=" + data, "--client_addr=" + held.addr(),
                           absl::StrCat("--peer_addr=127.0.0.1:", testing::FreePort())});
  EXPECT_EQ(run.exit, "exit 1") << run.output;
  EXPECT_NE(run.output.find(held.addr()), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("in use"), std::string::npos) << run.output;
  EXPECT_FALSE(Exists(data)) << "a failed start left " << data;
}

TEST(StartupTest, HelpExitsZero) {
  testing::TempDir dir;
  SynodRun run = RunSynod(dir, {"--help"});
  EXPECT_EQ(run.exit, "exit 0") << run.output;
  EXPECT_NE(run.output.find("--data_dir"), std::string::npos) << run.output;
  EXPECT_FALSE(Exists(dir.Sub("synod-data")));
}

}  // namespace
}  // namespace synod::e2e
