// LinkReaders (tests only): the taker of accepted Raft links for tests of
// the peer listener and transport that run no Raft driver. Each adopted
// link gets a thread that reads its frames (ReadLinkFrames, checked against
// the link's hello) into a mailbox, as the raft thread does in a replica.
//
// Thread: Adopt from the listener's threads; Stop (or the destructor) from
// the owner closes every link and joins its thread.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/raft_link.h"
#include "server/raft_mailbox.h"

namespace synod::testing {

class LinkReaders {
 public:
  // `mailbox` is not owned and outlives this.
  LinkReaders(uint64_t cluster_id, raft::NodeId self, server::RaftMailbox* mailbox)
      : cluster_id_(cluster_id),
        self_(self),
        mailbox_(mailbox),
        stop_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~LinkReaders() {
    Stop();
    ::close(stop_fd_);
  }
  LinkReaders(const LinkReaders&) = delete;
  LinkReaders& operator=(const LinkReaders&) = delete;

  // `tls`: the link's TLS session; null: plaintext.
  void Adopt(int fd, raft::NodeId from, std::unique_ptr<server::LinkTlsSession> tls) {
    absl::MutexLock lock(&mu_);
    if (stopped_) {
      ::close(fd);
      return;
    }
    threads_.emplace_back(
        [this, fd, from, tls = std::move(tls)]() mutable { Read(fd, from, std::move(tls)); });
  }

  // Links whose frames broke their hello.
  int refused() {
    absl::MutexLock lock(&mu_);
    return refused_;
  }

  void Stop() {
    std::list<std::thread> threads;
    {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
      threads.swap(threads_);
    }
    const uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof(one));
    for (std::thread& t : threads) t.join();
  }

 private:
  void Read(int fd, raft::NodeId from, std::unique_ptr<server::LinkTlsSession> tls) {
    server::LinkFrameReader reader(64u << 20, server::LinkHello{cluster_id_, from, self_},
                                   std::move(tls));
    v1::RaftBatch scratch;
    std::string why;
    // Bytes the session read ahead while the listener read the hello wake
    // no poll: read them first.
    bool read_first = reader.buffered();
    while (true) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(fds, 2, read_first ? 0 : -1) < 0 || fds[1].revents != 0) break;
      read_first = false;
      std::vector<raft::Message> messages;
      const bool open = server::ReadLinkFrames(fd, /*drain=*/true, &reader, &scratch, &messages, &why);
      if (!messages.empty()) mailbox_->DeliverMessages(std::move(messages));
      if (!open) break;
    }
    ::close(fd);
    if (reader.refused()) {
      absl::MutexLock lock(&mu_);
      ++refused_;
    }
  }

  const uint64_t cluster_id_;
  const raft::NodeId self_;
  server::RaftMailbox* const mailbox_;
  const int stop_fd_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int refused_ ABSL_GUARDED_BY(mu_) = 0;
  std::list<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::testing
