// PeerService: the receiving end of the Peer gRPC service (Raft messages
// arrive over the Raft link instead, peer_listener.h).
//
// Every call refuses a sender that is no member id or this replica itself,
// and KeepAliveBatch a sender that is not a member (sessions are touched
// only for members); refusals are counted (set_on_refused).
// `InstallSnapshot` hands the streamed chunks to the storage::SnapshotInbox
// (its thread writes them to a temporary file; the stream reads its next
// chunk once the last one is written), checks their CRC32C, has the file
// published under the snapshot's index (synced) and only then hands the
// MSG_SNAP to the core, so the state a Ready's snapshot names is always on
// disk before the Raft log records it. A full inbox fails the stream
// (RESOURCE_EXHAUSTED): the leader sends again.
//
// Thread: gRPC callback threads and the inbox thread (a snapshot stream's
// reactor continues there after each write); the reactors own their state.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "raft/types.h"
#include "server/fault_injection.h"
#include "server/raft_mailbox.h"
#include "storage/snapshot_inbox.h"
#include "synod/v1/peer.grpc.pb.h"

namespace synod::server {

class PeerService final : public v1::Peer::CallbackService {
 public:
  // Not owned; must outlive the gRPC server.
  PeerService(uint64_t cluster_id, raft::NodeId self, RaftMailbox* mailbox,
              storage::SnapshotInbox* snapshots, const FaultInjection* faults)
      : cluster_id_(cluster_id),
        self_(self),
        mailbox_(mailbox),
        snapshots_(snapshots),
        faults_(faults) {}

  // Answers a follower's batch of session heartbeats (runs on a gRPC
  // thread; must not block). Unset: UNIMPLEMENTED.
  using KeepAliveHandler =
      std::function<void(const v1::KeepAliveBatchRequest&, v1::KeepAliveBatchResponse*)>;
  void set_keep_alive_handler(KeepAliveHandler handler) { keep_alive_ = std::move(handler); }
  // Whether `id` is a member (voter or learner) of the cluster as this
  // replica knows it. Unset: every id. Only KeepAliveBatch asks: a snapshot
  // may come from a leader added after this replica's last membership
  // change (dissertation §4.1), so the Raft core decides on those.
  void set_is_member(std::function<bool(raft::NodeId)> is_member) {
    is_member_ = std::move(is_member);
  }
  // Called (on a gRPC thread) for each call refused for its sender or
  // cluster. Set both before the server starts.
  void set_on_refused(std::function<void()> on_refused) { on_refused_ = std::move(on_refused); }

  grpc::ServerReadReactor<v1::InstallSnapshotChunk>* InstallSnapshot(
      grpc::CallbackServerContext* context, v1::PeerAck* response) override;
  grpc::ServerUnaryReactor* KeepAliveBatch(grpc::CallbackServerContext* context,
                                           const v1::KeepAliveBatchRequest* request,
                                           v1::KeepAliveBatchResponse* response) override;

 private:
  class SnapshotReader;

  // InvalidArgument when `from` is no member id or this replica.
  absl::Status CheckSender(raft::NodeId from) const;
  void CountRefusal() const;

  const uint64_t cluster_id_;
  const raft::NodeId self_;
  RaftMailbox* const mailbox_;
  storage::SnapshotInbox* const snapshots_;
  const FaultInjection* const faults_;
  std::atomic<uint64_t> next_transfer_{1};
  KeepAliveHandler keep_alive_;
  std::function<bool(raft::NodeId)> is_member_;
  std::function<void()> on_refused_;
};

}  // namespace synod::server
