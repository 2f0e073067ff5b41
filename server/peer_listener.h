// PeerListener: owns the replica's peer port and tells its two protocols
// apart: connections that open with the Raft link's hello (raft_link.h) are
// served here; every other connection (HTTP/2: the Peer gRPC service for
// snapshots, session heartbeats and older senders' Raft streams) is handed
// to the gRPC server, which has no listening port of its own.
//
// An accepted Raft link goes to Options::adopt_link (the raft thread reads
// it: one thread woken per message). Without one, the link gets a thread
// that reads frames and hands each read's messages to the raft thread's
// mailbox (never blocking on it: the mailbox drops when full, dissertation
// §3.5 resends). A hello from another cluster, meant for another member,
// or naming no sender or this replica as the sender is refused and logged;
// so is a link whose frames break its hello (raft_link.h, CheckLinkBatch).
// A connection that says nothing for kClassifyTimeout is closed.
//
// Thread: Start/Stop by the owner; an accept thread and a thread per
// connection inside. Stop closes every link and joins every thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server.h"
#include "raft/types.h"
#include "server/fault_injection.h"
#include "server/raft_mailbox.h"

namespace synod::server {

class PeerListener {
 public:
  struct Options {
    std::string addr;  // host:port (port 0: any free port, see port())
    uint64_t cluster_id = 0;
    raft::NodeId self = raft::kNoNode;
    size_t max_frame_bytes = 64u << 20;
    // Connections not yet classified or linked, beyond which new ones are
    // closed at once.
    size_t max_connections = 256;
    // Set: an accepted link's socket (non-blocking) is handed over to this
    // (the raft thread reads it, RaftDriver::AdoptLink) instead of being
    // read by a thread of the listener into the mailbox.
    std::function<void(int fd, raft::NodeId from)> adopt_link;
    // Set: called (from a connection's thread) for each link refused here:
    // its hello, or one of the frames a thread of the listener read.
    std::function<void()> link_refused;
  };

  // `mailbox`, `faults` and `grpc_server` are not owned and outlive this;
  // `grpc_server` is started and takes the HTTP/2 connections.
  // Errors: InvalidArgument (bad address), Unavailable (cannot listen).
  static absl::StatusOr<std::unique_ptr<PeerListener>> Start(const Options& options,
                                                             RaftMailbox* mailbox,
                                                             const FaultInjection* faults,
                                                             grpc::Server* grpc_server);
  ~PeerListener();
  PeerListener(const PeerListener&) = delete;
  PeerListener& operator=(const PeerListener&) = delete;

  int port() const { return port_; }
  // Stops accepting, closes the links (not the connections gRPC took),
  // joins. Idempotent.
  void Stop();

 private:
  struct Connection {
    int fd = -1;  // -1 once handed to gRPC or closed
    std::thread thread;
    std::atomic<bool> finished{false};
  };

  PeerListener(const Options& options, RaftMailbox* mailbox, const FaultInjection* faults,
               grpc::Server* grpc_server);
  void AcceptLoop();
  void Serve(Connection* conn);
  // Reads frames from a link until it ends; `from` is the hello's sender.
  void ReadLink(int fd, raft::NodeId from);
  void CountRefusal();
  // Joins and frees finished connection threads.
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  RaftMailbox* const mailbox_;
  const FaultInjection* const faults_;
  grpc::Server* const grpc_server_;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_fd_ = -1;  // eventfd: readable once Stop began
  std::thread accept_thread_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::list<Connection> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::server
