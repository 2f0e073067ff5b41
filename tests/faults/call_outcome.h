// What a fault-test client can know about one gRPC call to a replica, and
// the per-call context every workload uses.
//
// ClassifyCall: kOk when the replica acknowledged it; kFail when Synod says
// it did not and will not take effect (BAD_VERSION, NOT_LEADER, UNAVAILABLE,
// NO_NODE, malformed requests) or gRPC never sent it ("failed to connect");
// kUnknown otherwise (deadline, lost connection, DEADLINE_EXCEEDED). Fills
// op->revision and op->error.
//
// Thread: pure functions.
#pragma once

#include <memory>

#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "synod/v1/common.pb.h"
#include "tests/faults/history.h"

namespace synod::faults {

std::unique_ptr<grpc::ClientContext> CallContext(absl::Duration timeout);
Outcome ClassifyCall(const grpc::Status& status, const v1::ResponseHeader& header, Op* op);

}  // namespace synod::faults
