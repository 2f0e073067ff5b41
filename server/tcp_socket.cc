#include "server/tcp_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace synod::server {
namespace {

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list != nullptr) freeaddrinfo(list);
  }
};

absl::Status Resolve(const std::string& addr, bool passive, AddrInfo* out) {
  std::string host;
  std::string port;
  if (absl::Status s = SplitHostPort(addr, &host, &port); !s.ok()) return s;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &out->list);
      rc != 0) {
    return absl::UnavailableError(absl::StrCat(addr, ": ", gai_strerror(rc)));
  }
  return absl::OkStatus();
}

// Milliseconds left until `deadline`, for poll (0 once it passed).
int MillisUntil(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
}

// Waits until `fd` has `events` or `abort_fd` is readable. 1: ready,
// 0: timeout, -1: aborted or error.
int WaitFor(int fd, short events, absl::Time deadline, int abort_fd) {
  while (true) {
    pollfd fds[2] = {{fd, events, 0}, {abort_fd, POLLIN, 0}};
    const int rc = ::poll(fds, abort_fd >= 0 ? 2 : 1, MillisUntil(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return -1;
    if (abort_fd >= 0 && fds[1].revents != 0) return -1;
    if (rc == 0) return 0;
    return 1;
  }
}

}  // namespace

absl::Status SplitHostPort(const std::string& addr, std::string* host, std::string* port) {
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", addr, "' is not host:port"));
  }
  std::string h = addr.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string p = addr.substr(colon + 1);
  int number = 0;
  if (p.empty() || !absl::SimpleAtoi(p, &number) || number < 0 || number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", addr, "': bad port"));
  }
  *host = h;
  *port = p;
  return absl::OkStatus();
}

absl::StatusOr<ListeningSocket> ListenTcp(const std::string& addr, int backlog,
                                          const std::string& what) {
  AddrInfo found;
  if (absl::Status s = Resolve(addr, /*passive=*/true, &found); !s.ok()) {
    if (s.code() == absl::StatusCode::kInvalidArgument) return s;
    return absl::UnavailableError(absl::StrCat(what, " address ", s.message()));
  }
  ListeningSocket out;
  std::string error = "no address";
  for (addrinfo* ai = found.list; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, backlog) != 0) {
      error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    out.fd = fd;
    break;
  }
  if (out.fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for ", what, " on ", addr, ": ", error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(out.fd, reinterpret_cast<sockaddr*>(&bound), &len);
  out.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return out;
}

absl::StatusOr<int> ConnectTcp(const std::string& addr, absl::Duration timeout, int abort_fd) {
  AddrInfo found;
  if (absl::Status s = Resolve(addr, /*passive=*/false, &found); !s.ok()) return s;
  const absl::Time deadline = absl::Now() + timeout;
  std::string error = "no address";
  for (addrinfo* ai = found.list; ai != nullptr; ai = ai->ai_next) {
    const int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    SetLinkSocketOptions(fd);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    if (errno != EINPROGRESS) {
      error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    const int ready = WaitFor(fd, POLLOUT, deadline, abort_fd);
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    if (ready == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) == 0 &&
        so_error == 0) {
      return fd;
    }
    ::close(fd);
    if (ready == -1) return absl::CancelledError(absl::StrCat("connect to ", addr, " aborted"));
    if (ready == 0) return absl::DeadlineExceededError(absl::StrCat("connect to ", addr, ": timeout"));
    error = std::strerror(so_error);
  }
  return absl::UnavailableError(absl::StrCat("connect to ", addr, ": ", error));
}

void SetLinkSocketOptions(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  const int idle_s = 2;
  const int interval_s = 1;
  const int probes = 3;
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
  // Unacknowledged data for this long also ends the connection.
  const unsigned int user_timeout_ms = 5000;
  ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}

bool SendExactly(int fd, const void* data, size_t size, absl::Time deadline, int abort_fd) {
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::send(fd, p + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (WaitFor(fd, POLLOUT, deadline, abort_fd) != 1) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool RecvExactly(int fd, void* data, size_t size, absl::Time deadline, int abort_fd) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::recv(fd, p + done, size - done, MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return false;  // end of stream
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (WaitFor(fd, POLLIN, deadline, abort_fd) != 1) return false;
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace synod::server
