#include "server/link_poller.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace synod::server {

LinkPoller::LinkPoller(const Options& options, Hooks hooks)
    : options_(options), hooks_(std::move(hooks)) {}

LinkPoller::~LinkPoller() {
  CloseAll();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

absl::Status LinkPoller::Init() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (wake_fd_ < 0 || epoll_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd/epoll: ", std::strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    return absl::InternalError(absl::StrCat("epoll_ctl: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void LinkPoller::Wake() {
  const uint64_t one = 1;
  // Only fails when the counter is saturated, and then it is readable
  // anyway: the wait returns either way.
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void LinkPoller::Add(int fd, raft::NodeId from, std::unique_ptr<LinkTlsSession> tls) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    base::Log(base::LogLevel::kWarning, "raft link from member %llu: epoll_ctl: %s",
              static_cast<unsigned long long>(from), std::strerror(errno));
    ::close(fd);
    return;
  }
  Link& link = links_[fd];
  link.from = from;
  link.reader = std::make_unique<LinkFrameReader>(
      options_.max_frame_bytes, LinkHello{options_.cluster_id, from, options_.self},
      std::move(tls));
  if (link.reader->buffered()) buffered_.push_back(fd);
}

void LinkPoller::Close(int fd, const std::string& why) {
  auto it = links_.find(fd);
  if (it == links_.end()) return;
  if (!why.empty()) {
    base::Log(base::LogLevel::kWarning, "raft link from member %llu closed: %s",
              static_cast<unsigned long long>(it->second.from), why.c_str());
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  links_.erase(it);
}

void LinkPoller::CloseAll() {
  while (!links_.empty()) Close(links_.begin()->first, "");
}

void LinkPoller::Read(int fd) {
  auto it = links_.find(fd);
  if (it == links_.end()) return;
  std::vector<raft::Message> messages;
  std::string why;
  const bool open =
      ReadLinkFrames(fd, /*drain=*/true, it->second.reader.get(), &scratch_, &messages, &why);
  const raft::NodeId from = it->second.from;
  if (it->second.reader->refused()) hooks_.refused(from);
  if (!messages.empty()) hooks_.deliver(from, std::move(messages));
  if (!open) Close(fd, why);
}

void LinkPoller::Wait(int timeout_ms) {
  // Read once, not until empty: after a drained read the session may still
  // hold part of a record, whose rest makes the socket readable.
  std::vector<int> buffered;
  buffered.swap(buffered_);
  for (int fd : buffered) Read(fd);
  epoll_event events[16];
  const int n = ::epoll_wait(epoll_fd_, events, 16, buffered.empty() ? timeout_ms : 0);
  if (n < 0 && errno != EINTR) {
    base::Log(base::LogLevel::kError, "raft thread: epoll_wait: %s", std::strerror(errno));
    std::abort();
  }
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == wake_fd_) {
      uint64_t count = 0;
      // Non-blocking; a concurrent Wake at worst makes the next wait return
      // at once.
      (void)!::read(wake_fd_, &count, sizeof(count));
      continue;
    }
    Read(fd);
  }
}

}  // namespace synod::server
