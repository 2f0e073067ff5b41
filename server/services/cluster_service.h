// ClusterService: Cluster.Status and Cluster.MemberList. Membership changes,
// leadership transfer and backups (MemberAdd/Promote/Remove, TransferLeader,
// Snapshot) belong to the operations work and answer UNIMPLEMENTED here.
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

 private:
  RequestFlow* const flow_;
  RaftDriver* const driver_;
  storage::TreeStore* const store_;
  const std::string version_;
};

}  // namespace synod::server
