// TreeService: the Tree gRPC service (callback API).
//
// Writes become Commands proposed through Raft; the reply is sent when this
// replica has applied the entry (RequestFlow). Reads run on the local
// TreeStore once the requested consistency allows. Handlers never wait:
// the thread that completes a request (apply, raft, deadline or the handler
// itself for SERIALIZABLE reads) fills the response and finishes the
// reactor.
//
// Replies: every response carries the header (this replica, its leader, the
// revision it had applied, the Synod code). A failed call ends with the
// mapped gRPC status and the header in its error details. Multi is the
// exception: a multi whose op failed ends with gRPC OK, the failing code in
// the header and the per-op results (ROLLED_BACK / RUNTIME_INCONSISTENCY for
// the others), so the results reach the client.
//
// Cheap checks happen before proposing (path syntax, data size, op count),
// so bad input costs no log entry; apply checks everything again anyway.
//
// Thread: gRPC callback threads; stateless apart from its collaborators.
#pragma once

#include <cstdint>

#include "server/services/request_flow.h"
#include "storage/tree_store.h"
#include "synod/v1/tree.grpc.pb.h"

namespace synod::server {

class TreeService final : public v1::Tree::CallbackService {
 public:
  struct Limits {
    int64_t max_data_bytes = 1 << 20;
    size_t max_multi_ops = 1000;
    uint32_t max_page_size = 10000;  // GetChildren
  };

  TreeService(RequestFlow* flow, storage::TreeStore* store, const Limits& limits)
      : flow_(flow), store_(store), limits_(limits) {}

  grpc::ServerUnaryReactor* Create(grpc::CallbackServerContext* context,
                                   const v1::CreateRequest* request,
                                   v1::CreateResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context, const v1::GetRequest* request,
                                v1::GetResponse* response) override;
  grpc::ServerUnaryReactor* Exists(grpc::CallbackServerContext* context,
                                   const v1::ExistsRequest* request,
                                   v1::ExistsResponse* response) override;
  grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext* context, const v1::SetRequest* request,
                                v1::SetResponse* response) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context,
                                   const v1::DeleteRequest* request,
                                   v1::DeleteResponse* response) override;
  grpc::ServerUnaryReactor* GetChildren(grpc::CallbackServerContext* context,
                                        const v1::GetChildrenRequest* request,
                                        v1::GetChildrenResponse* response) override;
  grpc::ServerUnaryReactor* Multi(grpc::CallbackServerContext* context,
                                  const v1::MultiRequest* request,
                                  v1::MultiResponse* response) override;
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const v1::HistoryRequest* request,
                                    v1::HistoryResponse* response) override;
  grpc::ServerUnaryReactor* Sync(grpc::CallbackServerContext* context,
                                 const v1::SyncRequest* request,
                                 v1::SyncResponse* response) override;

 private:
  // Checks an op before it is proposed: INVALID_PATH, TOO_LARGE,
  // INVALID_ARGUMENT (unknown mode, empty op). OK if it may be proposed.
  v1::ErrorCode CheckOp(const v1::Op& op, std::string* why) const;

  RequestFlow* const flow_;
  storage::TreeStore* const store_;
  const Limits limits_;
};

}  // namespace synod::server
