#include "tests/testing/free_port.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/synchronization/mutex.h"

namespace synod::testing {
namespace {

int BindEphemeral() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    std::perror("socket");
    std::abort();
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("bind 127.0.0.1:0");
    std::abort();
  }
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("getsockname");
    std::abort();
  }
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

int FreePort() {
  static absl::Mutex mu;
  static std::set<int>* given = new std::set<int>();
  absl::MutexLock lock(&mu);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port = BindEphemeral();
    if (given->insert(port).second) return port;
  }
  std::fprintf(stderr, "FreePort: no unused port after 1000 attempts\n");
  std::abort();
}

}  // namespace synod::testing
