#include "server/peer_listener.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "grpcpp/server_posix.h"
#include "server/link_tls.h"
#include "server/raft_link.h"
#include "server/tcp_socket.h"

namespace synod::server {
namespace {

// How long a new connection may take to send its first bytes, and a link
// its hello.
constexpr absl::Duration kClassifyTimeout = absl::Seconds(10);

}  // namespace

PeerListener::PeerListener(const Options& options, grpc::Server* grpc_server)
    : options_(options), grpc_server_(grpc_server) {}

absl::StatusOr<std::unique_ptr<PeerListener>> PeerListener::Start(const Options& options,
                                                                  grpc::Server* grpc_server) {
  if (!options.adopt_link) {
    return absl::InvalidArgumentError("peer listener: no taker for accepted Raft links");
  }
  absl::StatusOr<ListeningSocket> listening = ListenTcp(options.addr, 128, "peers");
  if (!listening.ok()) return listening.status();
  std::unique_ptr<PeerListener> listener(new PeerListener(options, grpc_server));
  listener->listen_fd_ = listening->fd;
  listener->port_ = listening->port;
  listener->stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (listener->stop_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  PeerListener* self = listener.get();
  listener->accept_thread_ = std::thread([self] {
    base::NameThread("synod-peer-acc");
    self->AcceptLoop();
  });
  return listener;
}

PeerListener::~PeerListener() {
  Stop();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void PeerListener::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    const uint64_t one = 1;
    // Wakes the accept thread and every connection's wait; each connection
    // closes its own fd.
    (void)!::write(stop_fd_, &one, sizeof(one));
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  // Connections still waiting in the backlog are reset, not left hanging
  // until the destructor.
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  std::list<Connection> connections;
  {
    absl::MutexLock lock(&mu_);
    connections.swap(connections_);
  }
  for (Connection& conn : connections) {
    if (conn.thread.joinable()) conn.thread.join();
  }
}

void PeerListener::Reap() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (it->finished.load()) {
      it->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void PeerListener::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      base::Log(base::LogLevel::kError, "peer listener: poll: %s", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;  // the peer went away, or out of fds: try the next one
    absl::MutexLock lock(&mu_);
    Reap();
    if (stopping_) {
      ::close(fd);
      return;
    }
    if (connections_.size() >= options_.max_connections) {
      base::Log(base::LogLevel::kWarning, "peer listener: %zu connections open, closing a new one",
                connections_.size());
      ::close(fd);
      continue;
    }
    Connection& conn = connections_.emplace_back();
    conn.fd = fd;
    Connection* c = &conn;
    conn.thread = std::thread([this, c] {
      base::NameThread("synod-peer-in");
      Serve(c);
    });
  }
}

void PeerListener::Serve(Connection* conn) {
  const int fd = conn->fd;  // ours until we close it or hand it to gRPC
  const absl::Time deadline = absl::Now() + kClassifyTimeout;
  // The first byte decides: 'S' opens a link's hello, anything else is
  // HTTP/2 (or garbage, which gRPC refuses).
  char first = 0;
  bool link = false;
  bool ok = false;
  while (true) {
    const ssize_t n = ::recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 1) {
      link = first == kLinkMagic[0];
      ok = true;
      break;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0 || ::poll(fds, 2, wait_ms) <= 0 || fds[1].revents != 0) break;
  }
  if (ok && !link && options_.link_tls != nullptr) {
    // gRPC cannot take a TLS connection by its fd: its bytes go, as they
    // are, to the gRPC server's own TLS port.
    Relay(fd);
    ok = false;
  } else if (ok && !link) {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      conn->fd = -1;  // gRPC's now
      grpc::AddInsecureChannelFromFd(grpc_server_, fd);
      conn->finished = true;
      return;
    }
    ok = false;
  }
  std::unique_ptr<LinkTlsSession> tls;
  std::string hello_bytes(kLinkHelloBytes, '\0');
  if (ok) {
    // A plaintext link opens with its hello's magic, a TLS one with the
    // preamble and then the handshake; the hello follows inside TLS.
    ok = RecvExactly(fd, hello_bytes.data(), kLinkMagic.size(), deadline, stop_fd_);
    const std::string_view magic(hello_bytes.data(), kLinkMagic.size());
    if (ok && magic == kLinkTlsPreamble) {
      if (options_.link_tls == nullptr) {
        base::Log(base::LogLevel::kWarning,
            "raft link refused: the sender wants TLS, this replica has no peer certificate "
            "(--peer_tls_cert)");
        ok = false;
      } else {
        absl::StatusOr<std::unique_ptr<LinkTlsSession>> session =
            LinkTlsSession::Accept(*options_.link_tls, fd, deadline, stop_fd_);
        if (session.ok()) {
          tls = *std::move(session);
        } else {
          base::Log(base::LogLevel::kWarning, "raft link refused: %s",
              std::string(session.status().message()).c_str());
          ok = false;
        }
      }
      if (!ok) CountRefusal();
      ok = ok && tls->ReadExactly(hello_bytes.data(), hello_bytes.size(), deadline, stop_fd_);
    } else if (ok && magic == kLinkMagic && options_.link_tls != nullptr) {
      base::Log(base::LogLevel::kWarning, "raft link refused: plaintext, and the peer port requires TLS");
      CountRefusal();
      ok = false;
    } else if (ok) {
      ok = RecvExactly(fd, hello_bytes.data() + kLinkMagic.size(),
                       hello_bytes.size() - kLinkMagic.size(), deadline, stop_fd_);
    }
  }
  if (ok) {
    LinkHello hello;
    if (!DecodeLinkHello(hello_bytes, &hello)) {
      base::Log(base::LogLevel::kWarning, "peer listener: a connection sent no valid Raft link hello");
    } else {
      LinkAnswer answer = LinkAnswer::kAccepted;
      if (hello.cluster_id != options_.cluster_id) {
        answer = LinkAnswer::kOtherCluster;
        base::Log(
            base::LogLevel::kWarning,
            "raft link refused: cluster id mismatch: peer %llu is in cluster %llu, this replica "
            "in %llu",
            static_cast<unsigned long long>(hello.from),
            static_cast<unsigned long long>(hello.cluster_id),
            static_cast<unsigned long long>(options_.cluster_id));
      } else if (hello.to != options_.self) {
        answer = LinkAnswer::kNotMe;
        base::Log(base::LogLevel::kWarning,
                  "raft link refused: peer %llu meant member %llu, this replica is member %llu",
                  static_cast<unsigned long long>(hello.from),
                  static_cast<unsigned long long>(hello.to),
                  static_cast<unsigned long long>(options_.self));
      }
      // No member sends to itself, and every member has an id: such a
      // hello is closed without an answer, as an invalid one is.
      const bool bad_sender = hello.from == raft::kNoNode || hello.from == options_.self;
      if (bad_sender) {
        base::Log(base::LogLevel::kWarning,
                  "raft link refused: the hello names member %llu as its sender",
                  static_cast<unsigned long long>(hello.from));
      }
      if (answer != LinkAnswer::kAccepted || bad_sender) CountRefusal();
      const std::string reply = EncodeLinkAnswer(answer);
      const bool answered =
          !bad_sender &&
          (tls != nullptr ? tls->WriteExactly(reply.data(), reply.size(), deadline, stop_fd_)
                          : SendExactly(fd, reply.data(), reply.size(), deadline, stop_fd_));
      if (answered && answer == LinkAnswer::kAccepted) {
        SetLinkSocketOptions(fd);
        absl::MutexLock lock(&mu_);
        if (!stopping_) {
          conn->fd = -1;  // the adopter's now
          options_.adopt_link(fd, hello.from, std::move(tls));
          conn->finished = true;
          return;
        }
      }
    }
  }
  tls.reset();
  absl::MutexLock lock(&mu_);
  ::close(fd);
  conn->fd = -1;
  conn->finished = true;
}

void PeerListener::Relay(int fd) {
  absl::StatusOr<int> up = ConnectTcp(options_.grpc_tls_addr, absl::Seconds(5), stop_fd_);
  if (!up.ok()) {
    base::Log(base::LogLevel::kWarning, "peer listener: cannot reach the peer gRPC server: %s",
        std::string(up.status().message()).c_str());
    return;
  }
  // Each side's bytes to the other until either ends (or Stop). A write
  // waits for room while the other side reads (gRPC's flow control bounds
  // what is in flight); one that stalls for a minute ends the relay.
  char buf[64 << 10];
  const int ends[2] = {fd, *up};
  bool open = true;
  while (open) {
    pollfd fds[3] = {{fd, POLLIN, 0}, {*up, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) break;
    for (int i = 0; i < 2 && open; ++i) {
      if (fds[i].revents == 0) continue;
      const ssize_t n = ::recv(ends[i], buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      open = n > 0 && SendExactly(ends[1 - i], buf, static_cast<size_t>(n),
                                  absl::Now() + absl::Minutes(1), stop_fd_);
    }
  }
  ::close(*up);
}

void PeerListener::CountRefusal() {
  if (options_.link_refused) options_.link_refused();
}

}  // namespace synod::server
