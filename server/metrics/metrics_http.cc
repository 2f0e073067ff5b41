#include "server/metrics/metrics_http.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "server/tcp_socket.h"

namespace synod::server::metrics {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

// Writes all of `data`; false on error or timeout.
bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(Options options) {
  absl::StatusOr<ListeningSocket> listening = ListenTcp(options.addr, 16, "metrics");
  if (!listening.ok()) return listening.status();
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(std::move(options)));
  server->listen_fd_ = listening->fd;
  server->port_ = listening->port;
  if (::pipe2(server->wake_fds_, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  MetricsHttpServer* self = server.get();
  server->thread_ = std::thread([self] {
    base::NameThread("synod-metrics");
    self->Loop();
  });
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  Stop();
  for (int fd : wake_fds_) {
    if (fd >= 0) ::close(fd);
  }
}

void MetricsHttpServer::Stop() {
  if (thread_.joinable()) {
    const char byte = 1;
    while (::write(wake_fds_[1], &byte, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  // Closed here, not in the destructor: once stopped, the port refuses.
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void MetricsHttpServer::Loop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      base::Log(base::LogLevel::kError, "metrics server: poll: %s", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // the client went away, or out of fds: try the next one
    Serve(fd);
    ::close(fd);
  }
}

void MetricsHttpServer::Serve(int fd) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(absl::ToInt64Seconds(options_.io_timeout));
  tv.tv_usec = static_cast<suseconds_t>(
      absl::ToInt64Microseconds(options_.io_timeout - absl::Seconds(tv.tv_sec)));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  // Only the request line matters; read up to the end of the headers.
  std::string request;
  char buf[2048];
  while (request.find("\r\n\r\n") == std::string::npos &&
         request.find("\n\n") == std::string::npos) {
    if (request.size() >= options_.max_request_bytes) break;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  HttpResponse response;
  bool head = false;
  const size_t eol = request.find_first_of("\r\n");
  const std::string line = request.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (eol == std::string::npos || sp2 == std::string::npos ||
      line.compare(sp2 + 1, 5, "HTTP/") != 0) {
    response.status = 400;
    response.body = "bad request\n";
  } else {
    const std::string method = line.substr(0, sp1);
    std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    head = method == "HEAD";
    auto handler = options_.handlers.find(target);
    if (method != "GET" && !head) {
      response.status = 405;
      response.body = "only GET and HEAD\n";
    } else if (handler == options_.handlers.end()) {
      response.status = 404;
      response.body = "not found\n";
    } else {
      response = handler->second();
    }
  }
  std::string out =
      absl::StrCat("HTTP/1.1 ", response.status, " ", Reason(response.status),
                   "\r\nContent-Type: ", response.content_type,
                   "\r\nContent-Length: ", response.body.size(), "\r\nConnection: close\r\n\r\n");
  if (!head) out += response.body;
  WriteAll(fd, out);  // a client that left early gets nothing; nothing to do
}

}  // namespace synod::server::metrics
