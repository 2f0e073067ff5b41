#include "tests/faults/session_workload.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "tests/faults/tree_calls.h"

namespace synod::faults {

SessionWorkload::SessionWorkload(NetnsCluster* cluster, HistoryRecorder* history,
                                 const Options& options)
    : ClientWorkload(cluster, history, options.clients), options_(options) {}

absl::Status SessionWorkload::Setup(absl::Duration timeout) {
  SYNOD_RETURN_IF_ERROR(EnsureNodes(cluster_, {{"/faults", ""}, {kParent, ""}}, timeout));
  SYNOD_ASSIGN_OR_RETURN(sessions_, SessionClients::Connect(cluster_, recorder_, options_.clients,
                                                            options_.session_timeout));
  return absl::OkStatus();
}

void SessionWorkload::RunClient(int client) {
  std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(client));
  Client* c = sessions_->client(client);
  uint64_t session = 0;
  int held = 0;  // ephemerals created in `session`
  for (int64_t i = 0; i < options_.max_ops_per_client && !stopping(); ++i) {
    if (c->session_id() != session) {
      session = c->session_id();
      held = 0;
    }
    CountOp();
    if (session != 0 && (held >= options_.ephemerals_per_session || rng() % 20 == 0)) {
      if (!sessions_->Close(client, absl::Seconds(2))) {
        absl::SleepFor(absl::Milliseconds(100));
      }
      continue;
    }
    Op op;
    op.id = recorder_->NextId();
    op.client = client;
    op.type = OpType::kCreate;
    op.value = absl::StrCat("c", client, "-", i);
    op.key = absl::StrCat(kParent, "/", op.value);
    op.session = session;
    CreateOptions mode;
    mode.mode = CreateMode::kEphemeral;
    op.invoke_ns = RunClockNs();
    absl::StatusOr<CreateResult> r =
        c->Create(op.key, op.value, mode, CallOptions::Timeout(absl::Seconds(3)));
    op.complete_ns = RunClockNs();
    if (r.ok()) {
      op.outcome = Outcome::kOk;
      op.read_value = r->path;
      op.session = r->stat.ephemeral_owner;
      op.revision = r->revision;
      ++held;
    } else {
      op.outcome = Outcome::kUnknown;
      op.error = std::string(r.status().message());
    }
    const bool ok = r.ok();
    recorder_->Add(std::move(op));
    absl::SleepFor(ok ? options_.think : options_.think + absl::Milliseconds(100));
  }
}

absl::Status SessionWorkload::ReadFinal(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const int64_t since = RunClockNs();
  SYNOD_ASSIGN_OR_RETURN(std::vector<uint64_t> ids,
                         sessions_->AllConnected(options_.session_timeout / 2));
  SYNOD_RETURN_IF_ERROR(ListEverywhere(kParent, deadline));
  sessions_->RecordHeld(ids, since);
  sessions_->CloseAll(absl::Seconds(5));
  return ListEverywhere(kParent, deadline);
}

}  // namespace synod::faults
