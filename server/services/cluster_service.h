// ClusterService: Cluster.Status, MemberList, and the membership RPCs
// (MemberAdd adds a learner, MemberPromote, MemberRemove, TransferLeader),
// which go to the leader's raft thread (RaftDriver::RequestMembership; a
// follower answers NOT_LEADER with the leader hint). SettingsGet and
// SettingsSet read and change the cluster settings recorded in the log
// (storage/cluster_settings.h); QuotaGet, QuotaSet and QuotaDelete the
// subtree quotas (storage/quota.h). Snapshot (backup)
// streams a fresh consistent snapshot of this replica's state
// (snapshot_stream.h).
//
// Status asks the raft thread for its view (a queued query, answered on the
// raft thread, which then finishes the reactor), so it never blocks a gRPC
// thread and reports a consistent Raft status.
//
// While auth is enabled (auth.proto), MemberAdd, MemberPromote,
// MemberRemove, TransferLeader, SettingsSet, QuotaSet, QuotaDelete and
// Snapshot need the admin right, and Status, MemberList, SettingsGet and
// QuotaGet an authenticated caller;
// a refusal changes nothing and answers PERMISSION_DENIED or
// UNAUTHENTICATED.
//
// Thread: gRPC callback threads.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "server/auth/authenticator.h"
#include "server/raft_driver.h"
#include "server/services/request_flow.h"
#include "server/services/snapshot_stream.h"
#include "storage/snapshot_files.h"
#include "storage/tree_store.h"
#include "synod/v1/cluster.grpc.pb.h"

namespace synod::server {

class ClusterService final : public v1::Cluster::CallbackService {
 public:
  // Not owned; all outlive the service. Destroy the service only after the
  // gRPC server that serves it has shut down.
  ClusterService(RequestFlow* flow, RaftDriver* driver, storage::TreeStore* store,
                 const storage::SnapshotFiles* snapshots, std::string version,
                 const Authenticator* auth)
      : flow_(flow),
        driver_(driver),
        store_(store),
        auth_(auth),
        version_(std::move(version)),
        snapshot_streamer_(std::make_unique<SnapshotStreamer>(SnapshotStreamer::Options(), store,
                                                              snapshots, flow->state())) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const v1::StatusRequest* request,
                                   v1::StatusResponse* response) override;
  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* context,
                                       const v1::MemberListRequest* request,
                                       v1::MemberListResponse* response) override;
  grpc::ServerUnaryReactor* MemberAdd(grpc::CallbackServerContext* context,
                                      const v1::MemberAddRequest* request,
                                      v1::MemberAddResponse* response) override;
  grpc::ServerUnaryReactor* MemberPromote(grpc::CallbackServerContext* context,
                                          const v1::MemberPromoteRequest* request,
                                          v1::MemberPromoteResponse* response) override;
  grpc::ServerUnaryReactor* MemberRemove(grpc::CallbackServerContext* context,
                                         const v1::MemberRemoveRequest* request,
                                         v1::MemberRemoveResponse* response) override;
  grpc::ServerUnaryReactor* TransferLeader(grpc::CallbackServerContext* context,
                                           const v1::TransferLeaderRequest* request,
                                           v1::TransferLeaderResponse* response) override;
  // The settings this replica applied (after the read options' wait).
  grpc::ServerUnaryReactor* SettingsGet(grpc::CallbackServerContext* context,
                                        const v1::SettingsGetRequest* request,
                                        v1::SettingsGetResponse* response) override;
  // Checks the change against the settings this replica applied (a clear
  // message for the usual mistakes), then proposes a SetSettingsCommand;
  // apply decides again against the settings in force at its log position.
  grpc::ServerUnaryReactor* SettingsSet(grpc::CallbackServerContext* context,
                                        const v1::SettingsSetRequest* request,
                                        v1::SettingsSetResponse* response) override;
  // The quotas this replica applied (after the read options' wait).
  grpc::ServerUnaryReactor* QuotaGet(grpc::CallbackServerContext* context,
                                     const v1::QuotaGetRequest* request,
                                     v1::QuotaGetResponse* response) override;
  // Check the request (a clear message for the usual mistakes), then
  // propose a QuotaSetCommand / QuotaDeleteCommand.
  grpc::ServerUnaryReactor* QuotaSet(grpc::CallbackServerContext* context,
                                     const v1::QuotaSetRequest* request,
                                     v1::QuotaSetResponse* response) override;
  grpc::ServerUnaryReactor* QuotaDelete(grpc::CallbackServerContext* context,
                                        const v1::QuotaDeleteRequest* request,
                                        v1::QuotaDeleteResponse* response) override;
  grpc::ServerWriteReactor<v1::SnapshotChunk>* Snapshot(
      grpc::CallbackServerContext* context, const v1::SnapshotRequest* request) override;

 private:
  // Submits a membership request; the reply lists the members on success.
  template <typename Response>
  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context, MembershipRequest request,
                                   Response* response);

  // The caller if it passes `gate` (RequireAdmin or RequireAuthenticated);
  // else the call is finished with the refusal and nullopt returned.
  enum class Gate { kAdmin, kAuthenticated };
  template <typename Response>
  std::optional<v1::Caller> Admit(grpc::CallbackServerContext* context, Gate gate,
                                  grpc::ServerUnaryReactor* reactor, Response* response);

  // Proposes `command` (stamped with `caller`) and answers with the code
  // apply gave it.
  template <typename Response>
  void ProposeAdmin(grpc::CallbackServerContext* context, v1::Caller caller, v1::Command command,
                    grpc::ServerUnaryReactor* reactor, Response* response);

  RequestFlow* const flow_;
  RaftDriver* const driver_;
  storage::TreeStore* const store_;
  const Authenticator* const auth_;
  const std::string version_;
  const std::unique_ptr<SnapshotStreamer> snapshot_streamer_;
};

}  // namespace synod::server
