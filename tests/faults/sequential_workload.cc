#include "tests/faults/sequential_workload.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/faults/call_outcome.h"
#include "tests/faults/tree_calls.h"

namespace synod::faults {

SequentialWorkload::SequentialWorkload(NetnsCluster* cluster, HistoryRecorder* history,
                                       const Options& options)
    : ClientWorkload(cluster, history, options.clients), options_(options) {}

absl::Status SequentialWorkload::Setup(absl::Duration timeout) {
  return EnsureNodes(cluster_, {{"/faults", ""}, {kParent, ""}}, timeout);
}

void SequentialWorkload::RunClient(int client) {
  std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(client));
  for (int64_t i = 0; i < options_.max_ops_per_client && !stopping(); ++i) {
    const int replica = PickReplica(client, &rng);
    auto tree = v1::Tree::NewStub(cluster_->channel(replica));
    Op op;
    op.id = recorder_->NextId();
    op.client = client;
    op.replica = replica;
    op.type = OpType::kCreate;
    op.key = absl::StrCat(kParent, "/n-");
    op.value = absl::StrCat("c", client, "-", i);
    v1::CreateRequest req;
    req.mutable_op()->set_path(op.key);
    req.mutable_op()->set_data(op.value);
    req.mutable_op()->set_mode(v1::PERSISTENT_SEQUENTIAL);
    v1::CreateResponse resp;
    op.invoke_ns = RunClockNs();
    grpc::Status s = tree->Create(CallContext(options_.op_timeout).get(), req, &resp);
    op.complete_ns = RunClockNs();
    op.outcome = ClassifyCall(s, resp.header(), &op);
    if (op.outcome == Outcome::kOk) op.read_value = resp.path();
    const bool answered = op.outcome != Outcome::kUnknown;
    recorder_->Add(std::move(op));
    CountOp();
    absl::SleepFor(answered ? options_.think : options_.think + absl::Milliseconds(100));
  }
}

absl::Status SequentialWorkload::ReadFinal(absl::Duration timeout) {
  return ListEverywhere(kParent, absl::Now() + timeout);
}

}  // namespace synod::faults
