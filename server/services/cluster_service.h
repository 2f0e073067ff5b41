// ClusterService: Cluster.Status, MemberList, and the membership RPCs
// (MemberAdd adds a learner, MemberPromote, MemberRemove, TransferLeader),
// which go to the leader's raft thread (RaftDriver::RequestMembership; a
// follower answers NOT_LEADER with the leader hint). Snapshot (backup) is
// not served yet: UNIMPLEMENTED.
//
// Status asks the raft thread for its view (a queued query, answered on the
// raft thread, which then finishes the reactor), so it never blocks a gRPC
// thread and reports a consistent Raft status.
//
// Thread: gRPC callback threads.
#pragma once

#include <string>

#include "server/raft_driver.h"
#include "server/services/request_flow.h"
#include "storage/tree_store.h"
#include "synod/v1/cluster.grpc.pb.h"

namespace synod::server {

class ClusterService final : public v1::Cluster::CallbackService {
 public:
  ClusterService(RequestFlow* flow, RaftDriver* driver, storage::TreeStore* store,
                 std::string version)
      : flow_(flow), driver_(driver), store_(store), version_(std::move(version)) {}

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

 private:
  // Submits a membership request; the reply lists the members on success.
  template <typename Response>
  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context, MembershipRequest request,
                                   Response* response);

  RequestFlow* const flow_;
  RaftDriver* const driver_;
  storage::TreeStore* const store_;
  const std::string version_;
};

}  // namespace synod::server
