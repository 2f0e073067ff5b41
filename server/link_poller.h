// LinkPoller: where the raft thread sleeps. One epoll set holds the Raft
// links the peer listener handed over (server/raft_link.h: sockets whose
// hello was accepted) and an eventfd that other threads signal (Wake), so a
// message from a peer wakes one thread, not a reader thread and then the
// raft thread.
//
// Promises: every adopted socket is closed exactly once: when its link
// ends (end of stream, a socket error, a frame too large or unreadable, a
// batch that breaks the link's hello), at CloseAll, or by the destructor.
// The messages of a frame are delivered in order, and none of a batch that
// breaks the hello.
//
// Thread: Wake from any thread (after Init); everything else on the raft
// thread, its owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/types.h"
#include "server/raft_link.h"
#include "synod/v1/peer.pb.h"

namespace synod::server {

class LinkPoller {
 public:
  struct Options {
    uint64_t cluster_id = 0;
    raft::NodeId self = raft::kNoNode;
    // Largest frame a link may carry.
    size_t max_frame_bytes = 64u << 20;
  };
  struct Hooks {
    // Messages read from the link of member `from`, in order.
    std::function<void(raft::NodeId from, std::vector<raft::Message> messages)> deliver;
    // The link of member `from` was closed for breaking its hello.
    std::function<void(raft::NodeId from)> refused;
  };

  LinkPoller(const Options& options, Hooks hooks);
  // Closes every link, the eventfd and the epoll set.
  ~LinkPoller();
  LinkPoller(const LinkPoller&) = delete;
  LinkPoller& operator=(const LinkPoller&) = delete;

  // Creates the eventfd and the epoll set. Errors: Internal.
  absl::Status Init();
  // Any thread: makes the current or next Wait return.
  void Wake();
  // Takes over the link socket `fd` (non-blocking) from member `from`, and
  // its TLS session (null: plaintext). Closes it (and logs) if it cannot be
  // polled.
  void Add(int fd, raft::NodeId from, std::unique_ptr<LinkTlsSession> tls);
  // Waits up to `timeout_ms` (0: does not block) for a Wake or a readable
  // link, then reads every readable link to its end and delivers what it
  // carried. Aborts the process if epoll fails (the raft thread cannot go on
  // without its wait).
  void Wait(int timeout_ms);
  // Closes every link.
  void CloseAll();
  size_t links() const { return links_.size(); }

 private:
  struct Link {
    raft::NodeId from = raft::kNoNode;
    std::unique_ptr<LinkFrameReader> reader;
  };
  void Close(int fd, const std::string& why);
  // Reads link `fd` until it would block and delivers what it carried.
  void Read(int fd);

  const Options options_;
  const Hooks hooks_;
  int wake_fd_ = -1;           // eventfd
  int epoll_fd_ = -1;          // wake_fd_ and the links
  std::map<int, Link> links_;  // by fd
  // Links adopted with bytes their TLS session already holds (read ahead
  // while the listener read the hello): epoll would not wake for them, so
  // the next Wait reads them without blocking.
  std::vector<int> buffered_;
  v1::RaftBatch scratch_;
};

}  // namespace synod::server
