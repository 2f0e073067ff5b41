#include "server/session_backend.h"

#include <fcntl.h>
#include <sys/random.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/time/clock.h"

namespace synod::server {
namespace {

std::string RandomSecret() {
  std::string secret(16, '\0');
  size_t got = 0;
  while (got < secret.size()) {
    const ssize_t n = getrandom(secret.data() + got, secret.size() - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  return secret;
}

}  // namespace

v1::ResponseHeader ReplicaSessionBackend::Header() {
  v1::ResponseHeader header;
  flow_->state()->FillHeader(&header);
  return header;
}

void ReplicaSessionBackend::ProposeOpen(int64_t timeout_ms, const v1::Caller& caller,
                                        absl::AnyInvocable<void(OpenOutcome) &&> done) {
  v1::Command command;
  *command.mutable_caller() = caller;
  v1::OpenSessionCommand* open = command.mutable_open_session();
  open->set_timeout_ms(timeout_ms);
  open->set_secret(RandomSecret());
  std::string secret = open->secret();
  // The tracker callback is a copyable std::function; the AnyInvocable moves
  // into shared ownership and runs once.
  auto shared = std::make_shared<absl::AnyInvocable<void(OpenOutcome) &&>>(std::move(done));
  flow_->Write(absl::Now() + request_timeout_, std::move(command),
               [shared, secret, timeout_ms](const Outcome& o) {
                 OpenOutcome outcome;
                 outcome.code = o.result != nullptr ? o.result->code() : o.code;
                 outcome.message = o.message;
                 if (o.result != nullptr && outcome.code == v1::OK) {
                   outcome.session_id = o.result->session_id();
                   outcome.timeout_ms = o.result->session_timeout_ms() > 0
                                            ? o.result->session_timeout_ms()
                                            : timeout_ms;
                   outcome.secret = secret;
                 }
                 std::move (*shared)(std::move(outcome));
               });
}

void ReplicaSessionBackend::ProposeClose(
    uint64_t session_id, const v1::Caller& caller,
    absl::AnyInvocable<void(v1::ErrorCode, std::string) &&> done) {
  v1::Command command;
  *command.mutable_caller() = caller;
  command.mutable_close_session()->set_session_id(session_id);
  auto shared =
      std::make_shared<absl::AnyInvocable<void(v1::ErrorCode, std::string) &&>>(std::move(done));
  flow_->Write(absl::Now() + request_timeout_, std::move(command), [shared](const Outcome& o) {
    const v1::ErrorCode code = o.result != nullptr ? o.result->code() : o.code;
    std::move (*shared)(code, o.message);
  });
}

absl::StatusOr<SessionLookup> ReplicaSessionBackend::Lookup(uint64_t session_id) {
  absl::StatusOr<storage::SessionResult> r = store_->GetSession(session_id);
  if (!r.ok()) return r.status();
  SessionLookup lookup;
  lookup.revision = r->revision;
  lookup.found = r->session.has_value();
  if (lookup.found) {
    lookup.secret = r->session->secret;
    lookup.timeout_ms = r->session->timeout_ms;
  }
  return lookup;
}

void ReplicaSessionBackend::Touch(uint64_t session_id) {
  if (flow_->state()->role() == raft::Role::kLeader) {
    tracker_->Touch(session_id, absl::Now());
  } else {
    batcher_->Add(session_id);
  }
}

}  // namespace synod::server
