#include "tests/faults/exactly_once_workload.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/faults/call_outcome.h"
#include "tests/faults/tree_calls.h"

namespace synod::faults {

ExactlyOnceWorkload::ExactlyOnceWorkload(NetnsCluster* cluster, HistoryRecorder* history,
                                         const Options& options)
    : ClientWorkload(cluster, history, options.clients), options_(options) {}

std::string ExactlyOnceWorkload::Counter(int i) { return absl::StrCat("/faults/eo/k", i); }

absl::Status ExactlyOnceWorkload::Setup(absl::Duration timeout) {
  std::vector<std::pair<std::string, std::string>> nodes = {{"/faults", ""}, {"/faults/eo", ""}};
  for (int i = 0; i < options_.counters; ++i) nodes.push_back({Counter(i), ""});
  SYNOD_RETURN_IF_ERROR(EnsureNodes(cluster_, nodes, timeout));
  SYNOD_ASSIGN_OR_RETURN(sessions_, SessionClients::Connect(cluster_, recorder_, options_.clients,
                                                            options_.session_timeout));
  return absl::OkStatus();
}

void ExactlyOnceWorkload::Increment(int first_replica, uint64_t session, const std::string& secret,
                                    uint64_t sequence, Op* op) {
  const absl::Time give_up = absl::Now() + options_.retry_for;
  bool maybe_applied = false;
  v1::CreateRequest req;
  req.mutable_op()->set_path(op->key);
  req.mutable_op()->set_data(op->value);
  req.mutable_op()->set_mode(v1::PERSISTENT_SEQUENTIAL);
  req.mutable_write()->set_session_id(session);
  req.mutable_write()->set_session_secret(secret);
  req.mutable_write()->set_sequence(sequence);
  op->invoke_ns = RunClockNs();
  for (op->attempts = 1;; ++op->attempts) {
    op->replica = 1 + (first_replica - 1 + op->attempts - 1) % cluster_->size();
    auto tree = v1::Tree::NewStub(cluster_->channel(op->replica));
    v1::CreateResponse resp;
    grpc::Status s = tree->Create(CallContext(options_.op_timeout).get(), req, &resp);
    const Outcome outcome = ClassifyCall(s, resp.header(), op);
    if (outcome == Outcome::kOk) {
      op->outcome = Outcome::kOk;
      op->read_value = resp.path();
      break;
    }
    // Not proposed this time; an earlier attempt may still be in the log.
    const bool retry = outcome == Outcome::kUnknown
                           ? op->error != "SESSION_EXPIRED"
                           : op->error == "NOT_LEADER" || op->error == "UNAVAILABLE" ||
                                 absl::StrContains(op->error, "failed to connect");
    maybe_applied = maybe_applied || (outcome == Outcome::kUnknown && retry);
    if (!retry || op->attempts >= options_.max_attempts || absl::Now() > give_up ||
        stopping()) {
      op->outcome = maybe_applied ? Outcome::kUnknown : Outcome::kFail;
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  op->complete_ns = RunClockNs();
}

void ExactlyOnceWorkload::RunClient(int client) {
  std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(client));
  Client* c = sessions_->client(client);
  uint64_t session = 0, sequence = 0;
  for (int64_t i = 0; i < options_.max_ops_per_client && !stopping(); ++i) {
    CountOp();
    absl::StatusOr<uint64_t> id = c->EnsureSession(CallOptions::Timeout(absl::Seconds(2)));
    if (!id.ok()) {
      absl::SleepFor(absl::Milliseconds(100));
      continue;
    }
    // The secret of session *id: read between two reads that both see
    // *id (a client's sessions only move on to new ids), else try again.
    const std::string secret = c->session_secret();
    if (c->session_id() != *id) continue;
    if (*id != session) {
      session = *id;
      sequence = 0;
    }
    Op op;
    op.id = recorder_->NextId();
    op.client = client;
    op.type = OpType::kCreate;
    op.key = absl::StrCat(Counter(static_cast<int>(rng() % options_.counters)), "/n-");
    op.value = absl::StrCat("c", client, "-", i);
    op.session = session;
    Increment(PickReplica(client, &rng), session, secret, ++sequence, &op);
    const bool ok = op.outcome == Outcome::kOk;
    recorder_->Add(std::move(op));
    absl::SleepFor(ok ? options_.think : options_.think + absl::Milliseconds(100));
  }
}

absl::Status ExactlyOnceWorkload::ReadFinal(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (int i = 0; i < options_.counters; ++i) {
    SYNOD_RETURN_IF_ERROR(ListEverywhere(Counter(i), deadline));
  }
  return absl::OkStatus();
}

}  // namespace synod::faults
