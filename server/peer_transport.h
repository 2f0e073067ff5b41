// PeerTransport: sends Raft messages and snapshots to the other members.
//
// Raft messages go over the Raft link (raft_link.h): one TCP connection per
// peer carrying length-prefixed batches. Send (the raft thread) writes what
// is queued straight to the socket when nothing else is pending, so in the
// steady state a message leaves on the raft thread without waking another
// thread; under load the queue turns into large batches. Each peer has a
// link thread that connects (and reconnects after a pause), finishes
// partial writes when the socket is full, and notices a closed link.
//
// With Options::link_tls, links run mutual TLS (link_tls.h) and the gRPC
// channels use Options::channel_credentials.
//
// Each peer has its own bounded queue, so a slow or dead peer only fills its
// own: when full, new messages to it are dropped and the peer reported
// unreachable (Raft resends: a follower in probe state is probed again at
// the next heartbeat). A broken link drops what is queued and is replaced, after a short pause, when there is something to send.
// MSG_SNAP goes instead to a per-peer snapshot thread that streams the
// snapshot file in chunks over the gRPC `InstallSnapshot` call; gRPC's flow
// control paces it, and the outcome is reported to the core
// (ReportSnapshot).
//
// Thread: Send/UpdatePeers/Stop are called by the raft thread (the owner);
// link threads and snapshot threads are internal. Stop() waits for all of
// them to finish.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "raft/types.h"
#include "server/fault_injection.h"
#include "server/link_tls.h"
#include "server/raft_mailbox.h"
#include "storage/snapshot_files.h"
#include "synod/v1/peer.grpc.pb.h"

namespace synod::server {

class PeerTransport {
 public:
  struct Options {
    uint64_t cluster_id = 0;
    raft::NodeId self = raft::kNoNode;
    // Per-peer queue bounds (messages and bytes).
    size_t max_queue_messages = 8192;
    size_t max_queue_bytes = 64u << 20;
    // Bytes of messages per link frame (at least one message).
    size_t max_batch_bytes = 4u << 20;
    // Connecting a link, and its hello and answer, may take this long.
    absl::Duration link_timeout = absl::Seconds(1);
    // gRPC max message size on peer channels: a batch or a snapshot chunk,
    // with headroom (a single entry can be as large as the client API allows).
    int max_message_bytes = 64 << 20;
    size_t snapshot_chunk_bytes = 1u << 20;
    // Mutual TLS on the links; null: plaintext. Not owned; outlives this.
    const LinkTls* link_tls = nullptr;
    // Of the gRPC channels to peers; null: plaintext.
    std::shared_ptr<grpc::ChannelCredentials> channel_credentials;
  };

  // `mailbox`, `snapshots` and `faults` are not owned and outlive this.
  // `mailbox` may be set later (set_mailbox), before the first UpdatePeers.
  PeerTransport(const Options& options, RaftMailbox* mailbox,
                const storage::SnapshotFiles* snapshots, const FaultInjection* faults);
  ~PeerTransport();
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  void set_mailbox(RaftMailbox* mailbox) { mailbox_ = mailbox; }

  // Sets the peers (id -> peer address), self excluded: starts senders for
  // new ones, stops removed ones, reconnects changed addresses.
  void UpdatePeers(const std::map<raft::NodeId, std::string>& peers);
  // Queues messages (moved from). Peers whose queue was full are reported
  // unreachable through the mailbox.
  void Send(std::vector<raft::Message>* messages);
  // Forwards a follower's batch of session heartbeats to `peer` (the
  // leader). Blocks the caller up to `timeout`. Errors: NotFound (unknown
  // peer), Unavailable (isolated or the call failed).
  absl::StatusOr<v1::KeepAliveBatchResponse> KeepAliveBatch(
      raft::NodeId peer, const v1::KeepAliveBatchRequest& request, absl::Duration timeout);
  // Whether the last attempt to talk to `peer` worked.
  bool Reachable(raft::NodeId peer) const;
  // Stops and joins every thread; queued messages are dropped.
  void Stop();

 private:
  struct Queued {
    raft::Message message;
    size_t bytes = 0;
  };
  struct Peer {
    raft::NodeId id = raft::kNoNode;
    std::string addr;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::Peer::Stub> stub;

    absl::Mutex mu;
    std::deque<Queued> queue ABSL_GUARDED_BY(mu);
    // The Raft link: the connected socket (-1: none); created and closed by
    // the link thread, written by whoever holds `mu`.
    int link_fd ABSL_GUARDED_BY(mu) = -1;
    // The link's TLS session (null: plaintext), used under `mu` only.
    std::unique_ptr<LinkTlsSession> link_tls ABSL_GUARDED_BY(mu);
    // A write on the link failed: the link thread closes it.
    bool link_broken ABSL_GUARDED_BY(mu) = false;
    // Framed bytes not yet written (the socket was full): the link thread
    // writes them, then what is queued.
    std::string unsent ABSL_GUARDED_BY(mu);
    // The link thread's last connect failed (logged once until it works).
    bool link_failing ABSL_GUARDED_BY(mu) = false;
    v1::RaftBatch scratch ABSL_GUARDED_BY(mu);
    int wake_fd = -1;  // eventfd: work for the link thread
    int stop_fd = -1;  // eventfd: readable once the peer is stopping
    std::thread link_thread;
    size_t queue_bytes ABSL_GUARDED_BY(mu) = 0;
    bool stopping ABSL_GUARDED_BY(mu) = false;
    // No new link before this time after a broken one.
    absl::Time retry_at ABSL_GUARDED_BY(mu) = absl::InfinitePast();
    // The snapshot call in progress, so Stop can cancel it.
    grpc::ClientContext* snapshot_call ABSL_GUARDED_BY(mu) = nullptr;

    std::atomic<bool> reachable{true};
    std::atomic<bool> snapshot_active{false};
    std::thread snapshot_sender;
  };

  std::unique_ptr<Peer> StartPeer(raft::NodeId id, const std::string& addr);
  void StopPeer(Peer* peer);
  // Moves up to max_batch_bytes of the queue into `batch`.
  void TakeBatch(Peer* peer, v1::RaftBatch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(peer->mu);
  // Raft thread: writes what is queued to the link unless a write is
  // pending, or wakes the link thread when there is no link yet.
  void Pump(Peer* peer);
  // Frames what is queued and writes as much as the socket takes; the rest
  // stays in `unsent`. False when the link broke.
  bool WriteLink(Peer* peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(peer->mu);
  // Marks the link broken and drops what is queued (the raft thread is told
  // through ReportUnreachable by the caller).
  void BreakLink(Peer* peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(peer->mu);
  void Wake(Peer* peer);
  // The link thread: connect, flush, watch for the link closing.
  void LinkLoop(Peer* peer);
  // Connects (with TLS when configured) and exchanges hello and answer;
  // sets link_fd (and link_tls).
  void ConnectLink(Peer* peer);
  // Closes the link's socket and its TLS session.
  void CloseLink(Peer* peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(peer->mu);
  void SendSnapshot(Peer* peer, raft::Message message);
  void SnapshotLoop(Peer* peer, raft::Message message);
  bool StreamSnapshot(Peer* peer, const raft::Message& message);

  const Options options_;
  RaftMailbox* mailbox_;
  const storage::SnapshotFiles* const snapshots_;
  const FaultInjection* const faults_;

  // Written by the raft thread only; read by it too (Reachable may be called
  // from others: guarded).
  mutable absl::Mutex peers_mu_;
  std::map<raft::NodeId, std::unique_ptr<Peer>> peers_ ABSL_GUARDED_BY(peers_mu_);
};

// Channel arguments shared by every peer channel (message sizes, fast
// reconnect, keepalive).
grpc::ChannelArguments PeerChannelArguments(int max_message_bytes);

}  // namespace synod::server
