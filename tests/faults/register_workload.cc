#include "tests/faults/register_workload.h"

#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/faults/call_outcome.h"
#include "tests/faults/tree_calls.h"

namespace synod::faults {

RegisterWorkload::RegisterWorkload(NetnsCluster* cluster, HistoryRecorder* history,
                                   const Options& options)
    : ClientWorkload(cluster, history, options.clients), options_(options) {}

std::string RegisterWorkload::Key(int k) { return absl::StrCat("/faults/r", k); }

absl::Status RegisterWorkload::Setup(absl::Duration timeout) {
  std::vector<std::pair<std::string, std::string>> nodes = {{"/faults", ""}};
  for (int k = 0; k < options_.keys; ++k) nodes.push_back({Key(k), "init"});
  return EnsureNodes(cluster_, nodes, timeout);
}

bool RegisterWorkload::Read(int client, int replica, const std::string& key,
                            v1::Consistency consistency, Op* out) {
  auto tree = v1::Tree::NewStub(cluster_->channel(replica));
  Op op;
  op.id = recorder_->NextId();
  op.client = client;
  op.replica = replica;
  op.key = key;
  op.type = OpType::kRead;
  v1::GetRequest req;
  req.set_path(key);
  req.mutable_read()->set_consistency(consistency);
  v1::GetResponse resp;
  op.invoke_ns = RunClockNs();
  grpc::Status s = tree->Get(CallContext(options_.op_timeout).get(), req, &resp);
  op.complete_ns = RunClockNs();
  op.outcome = ClassifyCall(s, resp.header(), &op);
  // A read changes nothing: one that did not return is simply not a read.
  if (op.outcome == Outcome::kUnknown) op.outcome = Outcome::kFail;
  if (op.outcome == Outcome::kOk) {
    op.read_value = resp.data();
    op.version = resp.stat().version();
  }
  *out = op;
  recorder_->Add(op);
  return op.outcome == Outcome::kOk;
}

void RegisterWorkload::RunClient(int client) {
  std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(client));
  std::map<std::string, int64_t> last_version;
  for (int64_t i = 0; i < options_.max_ops_per_client && !stopping(); ++i) {
    const int replica = PickReplica(client, &rng);
    const std::string key = Key(static_cast<int>(rng() % options_.keys));
    const int kind = static_cast<int>(rng() % 4);  // 0,1 read; 2 write; 3 cas
    bool ok = false;
    if (kind <= 1) {
      Op op;
      ok = Read(client, replica, key,
                options_.serializable_reads ? v1::SERIALIZABLE : v1::LINEARIZABLE, &op);
      if (ok) last_version[key] = op.version;
    } else {
      auto tree = v1::Tree::NewStub(cluster_->channel(replica));
      Op op;
      op.id = recorder_->NextId();
      op.client = client;
      op.replica = replica;
      op.key = key;
      op.type = kind == 2 ? OpType::kWrite : OpType::kCas;
      op.value = absl::StrCat("c", client, "-", i);
      v1::SetRequest req;
      req.mutable_op()->set_path(key);
      req.mutable_op()->set_data(op.value);
      if (op.type == OpType::kCas) {
        op.expected_version = last_version.count(key) > 0 ? last_version[key] : 0;
        req.mutable_op()->set_expected_version(op.expected_version);
      }
      v1::SetResponse resp;
      op.invoke_ns = RunClockNs();
      grpc::Status s = tree->Set(CallContext(options_.op_timeout).get(), req, &resp);
      op.complete_ns = RunClockNs();
      op.outcome = ClassifyCall(s, resp.header(), &op);
      if (op.outcome == Outcome::kOk) {
        op.version = resp.stat().version();
        last_version[key] = op.version;
      }
      ok = op.outcome == Outcome::kOk || op.error == "BAD_VERSION";
      recorder_->Add(op);
    }
    CountOp();
    // Back off while the cluster does not answer: a history full of
    // operations of unknown outcome says little and is costly to check.
    absl::SleepFor(ok ? options_.think : options_.think + absl::Milliseconds(100));
  }
}

absl::StatusOr<std::map<std::string, FinalKeyState>> RegisterWorkload::ReadFinal(
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::map<std::string, FinalKeyState> out;
  const int final_client = 1000;  // the final reads' client id in the history
  for (int k = 0; k < options_.keys; ++k) {
    const std::string key = Key(k);
    for (int replica = 1; replica <= cluster_->size(); ++replica) {
      Op op;
      while (!Read(final_client + replica, replica, key, v1::LINEARIZABLE, &op)) {
        if (absl::Now() > deadline) {
          return absl::DeadlineExceededError(
              absl::StrCat("final read of ", key, " on replica ", replica, ": ", op.error));
        }
        absl::SleepFor(absl::Milliseconds(200));
      }
      out[key].version = std::max(out[key].version, op.version);
    }
    FinalKeyState& fs = out[key];
    auto tree = v1::Tree::NewStub(cluster_->channel(1));
    for (int64_t v = 1; v <= fs.version; ++v) {
      for (int attempt = 0; attempt < 5; ++attempt) {
        v1::GetRequest req;
        req.set_path(key);
        req.set_version(v);
        v1::GetResponse resp;
        grpc::Status s = tree->Get(CallContext(absl::Seconds(2)).get(), req, &resp);
        Op probe;
        const Outcome outcome = ClassifyCall(s, resp.header(), &probe);
        if (outcome == Outcome::kOk) {
          fs.values[v] = resp.data();
          break;
        }
        if (probe.error == "COMPACTED" || probe.error == "NO_NODE") break;  // not kept
      }
    }
  }
  return out;
}

}  // namespace synod::faults
