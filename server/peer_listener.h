// PeerListener: owns the replica's peer port and tells its two protocols
// apart: connections that open with the Raft link's hello (raft_link.h) are
// answered here and handed to Options::adopt_link (the raft thread reads
// them: one thread woken per message, RaftDriver::AdoptLink); every other
// connection (HTTP/2: the Peer gRPC service for snapshots and session
// heartbeats) is handed to the gRPC server, which has no listening port of
// its own.
//
// With Options::link_tls the port is mutual TLS only: a link must start TLS
// (link_tls.h) and present a certificate the peer CA signed, and HTTP/2
// connections (TLS too) are relayed byte for byte to the gRPC server's own
// TLS port (Options::grpc_tls_addr, loopback), since gRPC takes a
// connection by its fd only in plaintext.
//
// A hello from another cluster, meant for another member, or naming no
// sender or this replica as the sender is refused and logged. A connection
// that says nothing for kClassifyTimeout is closed.
//
// Thread: Start/Stop by the owner; an accept thread and a thread per
// connection being classified (or relayed) inside. Stop closes the
// connections not yet handed over and joins every thread.
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
#include "server/link_tls.h"

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
    // Required: takes over an accepted link's socket (non-blocking, hello
    // answered) and its TLS session (null: plaintext); whoever reads it
    // checks its frames (CheckLinkBatch).
    std::function<void(int fd, raft::NodeId from, std::unique_ptr<LinkTlsSession> tls)>
        adopt_link;
    // Set: called (from a connection's thread) for each hello refused here.
    std::function<void()> link_refused;
    // Mutual TLS on the port; null: plaintext. Not owned; outlives this.
    const LinkTls* link_tls = nullptr;
    // With link_tls: where the gRPC server listens with TLS credentials.
    std::string grpc_tls_addr;
  };

  // `grpc_server` is not owned and outlives this; it is started and takes
  // the HTTP/2 connections. Errors: InvalidArgument (bad address, no
  // adopt_link), Unavailable (cannot listen).
  static absl::StatusOr<std::unique_ptr<PeerListener>> Start(const Options& options,
                                                             grpc::Server* grpc_server);
  ~PeerListener();
  PeerListener(const PeerListener&) = delete;
  PeerListener& operator=(const PeerListener&) = delete;

  int port() const { return port_; }
  // Stops accepting, closes the connections not yet handed over, joins.
  // Idempotent.
  void Stop();

 private:
  struct Connection {
    int fd = -1;  // -1 once handed to gRPC or closed
    std::thread thread;
    std::atomic<bool> finished{false};
  };

  PeerListener(const Options& options, grpc::Server* grpc_server);
  void AcceptLoop();
  void Serve(Connection* conn);
  // Copies bytes between `fd` and a new connection to grpc_tls_addr until
  // either ends or Stop.
  void Relay(int fd);
  void CountRefusal();
  // Joins and frees finished connection threads.
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
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
