#include "server/zk/zk_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "base/log_throttle.h"
#include "server/per_ip_limit.h"
#include "server/tcp_socket.h"
#include "server/zk/four_letter_words.h"

namespace synod::zk {

using server::PerIpLimiter;
using server::PerIpSlot;
using server::SockaddrIp;

namespace {

// The address of an accepted peer as ZooKeeper's ip scheme names it; an
// IPv4 client of a dual-stack socket shows as its IPv4 address. Empty for
// anything else.
std::string PeerAddress(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (peer.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) == nullptr) return "";
    return text;
  }
  if (peer.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      in_addr v4;
      std::memcpy(&v4, &in6->sin6_addr.s6_addr[12], sizeof(v4));
      if (inet_ntop(AF_INET, &v4, text, sizeof(text)) == nullptr) return "";
      return text;
    }
    if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)) == nullptr) return "";
    return text;
  }
  return "";
}

constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr size_t kReadChunk = 64 * 1024;
// How often the sessions of open connections are looked up.
constexpr absl::Duration kSessionCheck = absl::Seconds(1);
// At most one warning per this interval about connections refused for the
// listener's total (the per-IP limiter throttles its own).
constexpr absl::Duration kRefusalLogInterval = absl::Seconds(10);

}  // namespace

// Completions on any thread name the connection to look at; the listener
// thread drains the list. Shared so that a completion after Stop finds it
// closed instead of a destroyed listener. A completion on the listener
// thread itself (a read served inline) writes no eventfd: the loop drains
// the list until it stays empty before it waits again.
struct ZkListener::Waker {
  int fd = -1;
  absl::Mutex mu;
  std::vector<uint64_t> ids ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
  std::thread::id loop_thread ABSL_GUARDED_BY(mu);

  void Wake(uint64_t id) {
    absl::MutexLock lock(&mu);
    if (closed) return;
    const bool first = ids.empty();
    ids.push_back(id);
    if (first && std::this_thread::get_id() != loop_thread) {
      const uint64_t one = 1;
      // A full eventfd counter still wakes the loop; nothing to handle.
      [[maybe_unused]] ssize_t n = write(fd, &one, sizeof(one));
    }
  }
};

struct ZkListener::Conn {
  uint64_t id = 0;
  int fd = -1;
  std::string remote;  // "/address:port", as stat and cons show it
  bool first_bytes_checked = false;  // for a four-letter word
  PerIpSlot slot;  // this connection's count against its client's address
  std::shared_ptr<ZkConnection> zk;
  std::string in;
  std::string out;
  size_t out_offset = 0;
  bool close_after_output = false;
  bool reading_paused = false;
  uint32_t interest = 0;
};

struct ZkListener::State {
  explicit State(const ZkListenerOptions& options)
      : per_ip(PerIpLimiter::Options{options.max_connections_per_ip, "ZooKeeper connections",
                                     "--zk_max_client_cnxns", options.on_refused_per_ip}) {}
  PerIpLimiter per_ip;
  base::LogThrottle total_log{kRefusalLogInterval};
  uint64_t next_id = 2;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Conn>> conns;
  absl::Time next_session_check = absl::InfinitePast();
  std::atomic<bool> stop{false};
};

namespace {

ZkContext WithMetrics(ZkContext context, std::unique_ptr<ZkMetrics>* own) {
  if (context.metrics == nullptr) {
    *own = std::make_unique<ZkMetrics>();
    context.metrics = own->get();
  }
  return context;
}

// An accepted peer as Java prints an InetSocketAddress: "/1.2.3.4:5".
std::string RemoteText(const sockaddr_storage& peer) {
  const std::string address = PeerAddress(peer);
  int port = 0;
  if (peer.ss_family == AF_INET) {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(&peer)->sin_port);
  } else if (peer.ss_family == AF_INET6) {
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_port);
  }
  return absl::StrCat("/", address, ":", port);
}

}  // namespace

ZkListener::ZkListener(const ZkListenerOptions& options, ZkContext context)
    : options_(options),
      context_(WithMetrics(std::move(context), &own_metrics_)),
      environment_(ProcessEnvironment()),
      state_(std::make_unique<State>(options)) {
  environment_.emplace_back("synod.version", options_.version);
}

absl::StatusOr<std::unique_ptr<ZkListener>> ZkListener::Start(const ZkListenerOptions& options,
                                                              ZkContext context) {
  std::unique_ptr<ZkListener> l(new ZkListener(options, std::move(context)));
  absl::StatusOr<server::ListeningSocket> sock =
      server::ListenTcp(options.addr, 1024, "ZooKeeper clients");
  if (!sock.ok()) return sock.status();
  l->listen_fd_ = sock->fd;
  l->port_ = sock->port;
  fcntl(l->listen_fd_, F_SETFL, fcntl(l->listen_fd_, F_GETFL) | O_NONBLOCK);
  l->waker_ = std::make_shared<Waker>();
  l->waker_->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  l->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (l->waker_->fd < 0 || l->epoll_fd_ < 0) {
    return absl::InternalError(absl::StrCat("zk listener: ", strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenId;
  epoll_ctl(l->epoll_fd_, EPOLL_CTL_ADD, l->listen_fd_, &ev);
  ev.data.u64 = kWakeId;
  epoll_ctl(l->epoll_fd_, EPOLL_CTL_ADD, l->waker_->fd, &ev);
  l->thread_ = std::thread([p = l.get()] { p->Run(); });
  return l;
}

ZkListener::~ZkListener() {
  Stop();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (waker_ != nullptr && waker_->fd >= 0) close(waker_->fd);
}

void ZkListener::Stop() {
  if (!thread_.joinable()) return;
  state_->stop.store(true);
  waker_->Wake(kWakeId);
  thread_.join();
  {
    absl::MutexLock lock(&waker_->mu);
    waker_->closed = true;
  }
  std::vector<uint64_t> ids;
  for (const auto& [id, c] : state_->conns) ids.push_back(id);
  for (uint64_t id : ids) CloseConn(id);
}

void ZkListener::Run() {
  pthread_setname_np(pthread_self(), "synod-zk");
  {
    absl::MutexLock lock(&waker_->mu);
    waker_->loop_thread = std::this_thread::get_id();
  }
  std::vector<epoll_event> events(128);
  while (!state_->stop.load()) {
    // A connection this thread named after its last drain (it wrote no
    // eventfd, and a later Wake from another thread writes none either
    // while the list is not empty) is handled without waiting.
    int timeout_ms = 250;
    {
      absl::MutexLock lock(&waker_->mu);
      if (!waker_->ids.empty()) timeout_ms = 0;
    }
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) {
      base::Log(base::LogLevel::kError, "zk: epoll_wait: %s", strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[static_cast<size_t>(i)].data.u64;
      const uint32_t what = events[static_cast<size_t>(i)].events;
      if (id == kListenId) {
        Accept();
        continue;
      }
      if (id == kWakeId) {
        uint64_t count = 0;
        [[maybe_unused]] ssize_t r = read(waker_->fd, &count, sizeof(count));
        continue;
      }
      auto it = state_->conns.find(id);
      if (it == state_->conns.end()) continue;
      Conn* c = it->second.get();
      if (what & (EPOLLERR | EPOLLHUP)) {
        CloseConn(id);
        continue;
      }
      if (what & EPOLLOUT) {
        Flush(c);
        if (!state_->conns.contains(id)) continue;
      }
      if (what & (EPOLLIN | EPOLLRDHUP)) OnReadable(c);
    }
    // Until empty: a flush may complete requests inline, which names its
    // connection again without waking the loop.
    for (;;) {
      std::vector<uint64_t> woken;
      {
        absl::MutexLock lock(&waker_->mu);
        woken.swap(waker_->ids);
      }
      if (woken.empty()) break;
      for (uint64_t id : woken) {
        auto it = state_->conns.find(id);
        if (it != state_->conns.end()) Flush(it->second.get());
      }
    }
    CheckSessions();
  }
}

void ZkListener::Accept() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a client that went away meanwhile
    absl::StatusOr<std::string> ip = SockaddrIp(reinterpret_cast<sockaddr*>(&peer), peer_len);
    if (state_->conns.size() >= options_.max_connections) {
      uint64_t held_back = 0;
      if (state_->total_log.Allow(absl::Now(), &held_back)) {
        base::Log(base::LogLevel::kWarning,
                  "zk: refused a connection from %s: %zu connections open, the limit "
                  "(--zk_max_connections); %llu more refusals not logged since the last line",
                  ip.ok() ? ip->c_str() : "?", state_->conns.size(),
                  static_cast<unsigned long long>(held_back));
      }
      if (options_.on_refused_total) options_.on_refused_total();
      close(fd);
      continue;
    }
    // An address that does not parse (not expected from a TCP listener)
    // shares one count rather than escaping the limit.
    absl::StatusOr<PerIpSlot> slot = state_->per_ip.Acquire(ip.ok() ? *ip : "unknown");
    if (!slot.ok()) {
      close(fd);  // counted and logged by the limiter
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_unique<Conn>();
    c->id = state_->next_id++;
    c->fd = fd;
    c->remote = RemoteText(peer);
    c->slot = *std::move(slot);
    std::shared_ptr<Waker> waker = waker_;
    const uint64_t id = c->id;
    c->zk = std::make_shared<ZkConnection>(&context_, PeerAddress(peer),
                                           [waker, id] { waker->Wake(id); });
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = id;
    c->interest = ev.events;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    state_->conns[id] = std::move(c);
    context_.metrics->ConnectionOpened();
  }
}

void ZkListener::OnReadable(Conn* c) {
  const uint64_t id = c->id;
  char buf[kReadChunk];
  for (;;) {
    if (!c->first_bytes_checked && c->in.size() >= 4) {
      // ZooKeeper looks for a four-letter word in the first four bytes
      // only: no ConnectRequest is that long.
      c->first_bytes_checked = true;
      if (std::optional<std::string> word =
              FourLetterWordOf(absl::string_view(c->in).substr(0, 4))) {
        c->in.clear();
        c->out.append(AnswerWord(*word));
        c->close_after_output = true;
        Flush(c);
        return;
      }
    }
    // Whole frames first (some may be buffered from before a pause), while
    // the connection may take more requests.
    size_t pos = 0;
    while (c->in.size() - pos >= 4) {
      if (c->zk->pending() >= options_.max_pending ||
          c->out.size() - c->out_offset >= options_.max_output_bytes) {
        c->reading_paused = true;
        break;
      }
      const auto* p = reinterpret_cast<const unsigned char*>(c->in.data() + pos);
      const int32_t len = static_cast<int32_t>((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                                               (uint32_t{p[2]} << 8) | uint32_t{p[3]});
      if (len < 0 || static_cast<size_t>(len) > options_.max_frame_bytes) {
        base::Log(base::LogLevel::kWarning,
                  "zk: closing a connection that sent a frame of %d bytes (max %zu)", len,
                  options_.max_frame_bytes);
        CloseConn(id);
        return;
      }
      if (c->in.size() - pos - 4 < static_cast<size_t>(len)) break;
      c->zk->OnFrame(std::string_view(c->in.data() + pos + 4, static_cast<size_t>(len)));
      pos += 4 + static_cast<size_t>(len);
    }
    // What stays buffered is at most one partial frame (bounded by the
    // length check) or frames held while paused (bounded by one read).
    c->in.erase(0, pos);
    if (c->reading_paused) break;
    const ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      CloseConn(id);
      return;
    }
    context_.metrics->BytesIn(static_cast<uint64_t>(n));
    c->in.append(buf, static_cast<size_t>(n));
  }
  Flush(c);
}

void ZkListener::Flush(Conn* c) {
  const uint64_t id = c->id;
  if (!c->close_after_output && c->zk->TakeOutput(&c->out)) c->close_after_output = true;
  while (c->out_offset < c->out.size()) {
    const ssize_t n =
        send(c->fd, c->out.data() + c->out_offset, c->out.size() - c->out_offset, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      CloseConn(id);
      return;
    }
    c->out_offset += static_cast<size_t>(n);
    context_.metrics->BytesOut(static_cast<uint64_t>(n));
  }
  if (c->out_offset == c->out.size()) {
    c->out.clear();
    c->out_offset = 0;
    if (c->close_after_output) {
      CloseConn(id);
      return;
    }
  }
  if (c->reading_paused && c->zk->pending() < options_.max_pending &&
      c->out.size() - c->out_offset < options_.max_output_bytes) {
    c->reading_paused = false;
    UpdateInterest(c);
    // Frames already buffered are handled before the socket is read again.
    OnReadable(c);
    return;
  }
  UpdateInterest(c);
}

void ZkListener::UpdateInterest(Conn* c) {
  uint32_t want = EPOLLRDHUP;
  if (!c->reading_paused && !c->close_after_output) want |= EPOLLIN;
  if (c->out_offset < c->out.size()) want |= EPOLLOUT;
  if (want == c->interest) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c->id;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &ev);
  c->interest = want;
}

void ZkListener::CloseConn(uint64_t id) {
  auto it = state_->conns.find(id);
  if (it == state_->conns.end()) return;
  std::unique_ptr<Conn> c = std::move(it->second);
  state_->conns.erase(it);
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  c->zk->Close();
  context_.metrics->ConnectionClosed();
}

std::string ZkListener::AnswerWord(const std::string& word) {
  FourLetterInput in;
  in.word = word;
  const absl::flat_hash_set<std::string>& whitelist = options_.four_letter_whitelist;
  if (!whitelist.contains(word)) return AnswerFourLetterWord(in, whitelist);
  if (options_.describe) options_.describe(&in);
  in.version = absl::StrCat(kZkProtocolVersion, "-synod-", options_.version);
  in.stats = context_.metrics->Take();
  in.uptime_ms = absl::ToInt64Milliseconds(absl::Now() - started_);
  absl::flat_hash_set<std::string> paths;
  for (const auto& [id, c] : state_->conns) {
    in.outstanding += static_cast<int64_t>(c->zk->pending());
    if (NeedsConnections(word)) {
      if (in.connections.size() < kMaxListedConnections) {
        ZkConnectionInfo info = c->zk->Info();
        info.remote = c->remote;
        info.reading = (c->interest & EPOLLIN) != 0;
        in.connections.push_back(std::move(info));
      } else {
        ++in.unlisted;
      }
    }
    if (word == "mntr") in.watches += c->zk->WatchCount();
    if (word == "wchs") {
      // Distinct paths: proportional to the watches, as ZooKeeper's wchs.
      std::vector<std::string> watched = c->zk->WatchedPaths();
      if (watched.empty()) continue;
      ++in.watching_connections;
      in.watches += watched.size();
      for (std::string& p : watched) paths.insert(std::move(p));
    }
  }
  in.watched_paths = paths.size();
  in.conf.emplace_back("clientPort", absl::StrCat(port_));
  in.conf.emplace_back("secureClientPort", "-1");
  in.conf.insert(in.conf.end(), options_.conf.begin(), options_.conf.end());
  in.conf.emplace_back("maxClientCnxns", absl::StrCat(options_.max_connections_per_ip));
  in.conf.emplace_back("synod.maxConnections", absl::StrCat(options_.max_connections));
  in.conf.emplace_back("jute.maxbuffer", absl::StrCat(options_.max_frame_bytes));
  in.env = environment_;
  return AnswerFourLetterWord(in, whitelist);
}

void ZkListener::CheckSessions() {
  const absl::Time now = absl::Now();
  if (now < state_->next_session_check) return;
  state_->next_session_check = now + kSessionCheck;
  std::vector<uint64_t> gone;
  for (const auto& [id, c] : state_->conns) {
    if (!c->zk->SessionAlive()) gone.push_back(id);
  }
  for (uint64_t id : gone) CloseConn(id);
}

}  // namespace synod::zk
