#include "tests/faults/session_clients.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace synod::faults {

absl::StatusOr<std::unique_ptr<SessionClients>> SessionClients::Connect(
    NetnsCluster* cluster, HistoryRecorder* history, int clients, absl::Duration session_timeout) {
  std::unique_ptr<SessionClients> out(new SessionClients(history));
  for (int i = 0; i < clients; ++i) {
    Client::Options o;
    for (int id = 1; id <= cluster->size(); ++id) o.endpoints.push_back(cluster->client_addr(id));
    o.session_timeout = session_timeout;
    o.request_timeout = absl::Seconds(2);
    o.attempt_timeout = absl::Seconds(1);
    o.discover_members = false;
    absl::StatusOr<std::unique_ptr<Client>> c = Client::Connect(std::move(o));
    if (!c.ok()) return c.status();
    (*c)->AddSessionListener([history, i](SessionState state, uint64_t session) {
      Op op;
      op.id = history->NextId();
      op.client = i;
      op.type = OpType::kSession;
      op.session = session;
      op.value = std::string(SessionStateName(state));
      op.outcome = Outcome::kOk;
      op.invoke_ns = op.complete_ns = RunClockNs();
      history->Add(std::move(op));
    });
    out->clients_.push_back(*std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<uint64_t>> SessionClients::AllConnected(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<uint64_t> ids;
  for (int i = 0; i < size(); ++i) {
    Client* c = client(i);
    for (;;) {
      if (c->session_id() == 0) {
        c->EnsureSession(CallOptions::Timeout(absl::Seconds(2))).status().IgnoreError();
      }
      // Connected: the last heartbeat was acknowledged.
      if (c->session_id() != 0 && c->session_state() == SessionState::kConnected) break;
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("client ", i, "'s session is ", SessionStateName(c->session_state())));
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    ids.push_back(c->session_id());
  }
  return ids;
}

void SessionClients::RecordHeld(const std::vector<uint64_t>& ids, int64_t since_ns) {
  for (int i = 0; i < size(); ++i) {
    if (client(i)->session_id() != ids[i] ||
        client(i)->session_state() != SessionState::kConnected) {
      continue;
    }
    Op op;
    op.id = history_->NextId();
    op.client = i;
    op.type = OpType::kSession;
    op.session = ids[i];
    op.value = "held";
    op.outcome = Outcome::kOk;
    op.invoke_ns = since_ns;
    op.complete_ns = RunClockNs();
    history_->Add(std::move(op));
  }
}

bool SessionClients::Close(int i, absl::Duration timeout) {
  Op op;
  op.session = client(i)->session_id();
  if (op.session == 0) return true;
  op.id = history_->NextId();
  op.client = i;
  op.type = OpType::kClose;
  op.invoke_ns = RunClockNs();
  absl::Status s = client(i)->CloseSession(CallOptions::Timeout(timeout));
  op.complete_ns = RunClockNs();
  op.outcome = s.ok() ? Outcome::kOk : Outcome::kUnknown;
  if (!s.ok()) op.error = std::string(s.message());
  history_->Add(std::move(op));
  return s.ok();
}

void SessionClients::CloseAll(absl::Duration timeout) {
  for (int i = 0; i < size(); ++i) Close(i, timeout);
}

}  // namespace synod::faults
