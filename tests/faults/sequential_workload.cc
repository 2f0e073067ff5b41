#include "tests/faults/sequential_workload.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/faults/call_outcome.h"
#include "tests/faults/tree_calls.h"

namespace synod::faults {

SequentialWorkload::SequentialWorkload(NetnsCluster* cluster, HistoryRecorder* history,
                                       const Options& options)
    : cluster_(cluster), history_(history), options_(options) {}

absl::Status SequentialWorkload::Setup(absl::Duration timeout) {
  return EnsureNodes(cluster_, {"/faults", kParent}, timeout);
}

void SequentialWorkload::Start() {
  threads_.Start(options_.clients, [this](int client) { RunClient(client); });
}

void SequentialWorkload::RunClient(int client) {
  std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(client));
  const int n = cluster_->size();
  const int home = client % n + 1;
  for (int64_t i = 0; i < options_.max_ops_per_client && !threads_.stopping(); ++i) {
    const int replica = rng() % 10 < 7 ? home : 1 + static_cast<int>(rng() % n);
    auto tree = v1::Tree::NewStub(cluster_->channel(replica));
    Op op;
    op.id = history_->NextId();
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
    history_->Add(std::move(op));
    threads_.CountOp();
    absl::SleepFor(answered ? options_.think : options_.think + absl::Milliseconds(100));
  }
}

absl::Status SequentialWorkload::ReadFinal(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (int replica = 1; replica <= cluster_->size(); ++replica) {
    absl::StatusOr<Op> listed =
        ListChildren(cluster_, history_, replica, kParent, deadline - absl::Now());
    if (!listed.ok()) return listed.status();
  }
  return absl::OkStatus();
}

}  // namespace synod::faults
