// The session commands of ApplyCommand (apply.h): open, close and expire
// sessions (their ephemerals deleted with them), and exactly-once writes
// through a session's last (sequence, result).
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "base/secret.h"
#include "base/status_macros.h"
#include "storage/apply_internal.h"

namespace synod::storage::apply_internal {
namespace {

// The identities that own a session a caller opens: its own, ip ones left
// out (the client may reconnect from another address), in one order.
std::vector<SessionOwnerId> OwnerOf(const v1::Caller& caller) {
  std::vector<SessionOwnerId> owner;
  for (const v1::Identity& id : caller.ids()) {
    if (id.scheme() == "ip") continue;
    owner.push_back(SessionOwnerId{id.scheme(), id.id()});
  }
  std::sort(owner.begin(), owner.end(), [](const SessionOwnerId& a, const SessionOwnerId& b) {
    return std::tie(a.scheme, a.id) < std::tie(b.scheme, b.id);
  });
  owner.erase(std::unique(owner.begin(), owner.end()), owner.end());
  return owner;
}

// A session's ephemerals belong to its identity: only a caller holding all
// of its owner's non-ip identities, or the superuser, may write through it
// or close it. Holding more does not lose it (a caller could always leave
// the extra ones out): a ZooKeeper client adds identities to its
// connection (addauth) after its session exists, as ZooKeeper allows.
bool MayUse(const v1::Caller& caller, const Session& session) {
  if (caller.superuser()) return true;
  const std::vector<SessionOwnerId> held = OwnerOf(caller);  // sorted, as owner is
  return std::includes(held.begin(), held.end(), session.owner.begin(), session.owner.end(),
                       [](const SessionOwnerId& a, const SessionOwnerId& b) {
                         return std::tie(a.scheme, a.id) < std::tie(b.scheme, b.id);
                       });
}

// Deletes a session's ephemerals and the session itself.
absl::Status EndSession(const ApplyLimits& limits, uint64_t revision, int64_t time_ms,
                        uint64_t session_id, Overlay* st) {
  std::vector<std::string> paths;
  SYNOD_RETURN_IF_ERROR(st->ListEphemerals(session_id, &paths));
  std::set<std::string> lost_child;
  OpContext ctx{limits, revision, time_ms, session_id, /*caller=*/nullptr, &lost_child};
  for (const std::string& path : paths) {
    absl::StatusOr<std::optional<Node>> node = st->GetNode(path);
    if (!node.ok()) return node.status();
    if (!node->has_value() || (*node)->stat.ephemeral_owner != session_id) {
      return absl::DataLossError("ephemeral index out of step with the tree");
    }
    SYNOD_RETURN_IF_ERROR(RemoveNode(st, ctx, path, **node));
  }
  st->DeleteSession(session_id);
  return RemoveEmptyContainers(st, ctx);
}

}  // namespace

absl::Status ApplyExactlyOnce(const ApplyLimits& limits, uint64_t revision,
                              const v1::Command& command, Overlay* st, v1::CommandResult* result) {
  const v1::WriteContext& write = command.write();
  absl::StatusOr<std::optional<Session>> session = st->GetSession(write.session_id());
  if (!session.ok()) return session.status();
  if (!session->has_value()) {
    result->set_code(v1::SESSION_EXPIRED);
    return absl::OkStatus();
  }
  // Before the stored result answers a repeat: the caller holds the
  // session's secret (ids are guessable revisions) and is its owner.
  if (!base::SecretsEqual((*session)->secret, write.session_secret())) {
    result->set_code(v1::AUTH_FAILED);
    return absl::OkStatus();
  }
  if (!MayUse(command.caller(), **session)) {
    result->set_code(v1::PERMISSION_DENIED);
    return absl::OkStatus();
  }
  const uint64_t sequence = write.sequence();
  if (sequence == 0) return ApplyTxn(limits, revision, command, st, result);
  const uint64_t lowest = write.lowest_unacked() == 0 ? sequence : write.lowest_unacked();
  if (lowest > sequence) {
    result->set_code(v1::INVALID_ARGUMENT);  // it cannot wait for a result it has
    return absl::OkStatus();
  }
  Session& s = **session;
  // The client has every result below `lowest`: drop them (a reordered,
  // older write's lower value never brings them back).
  const bool acked = lowest > s.acked_below;
  if (acked) {
    s.acked_below = lowest;
    s.results.erase(s.results.begin(),
                    std::lower_bound(s.results.begin(), s.results.end(), lowest,
                                     [](const WriteResult& r, uint64_t q) { return r.sequence < q; }));
  }
  auto stored = std::lower_bound(s.results.begin(), s.results.end(), sequence,
                                 [](const WriteResult& r, uint64_t q) { return r.sequence < q; });
  if (sequence < s.acked_below) {
    // Applied long ago (its result acknowledged) or a stray duplicate:
    // never applied again.
    result->set_code(v1::DEADLINE_EXCEEDED);
  } else if (stored != s.results.end() && stored->sequence == sequence) {
    if (!result->ParseFromString(stored->result)) {
      return absl::DataLossError("stored session result does not parse");
    }
  } else if (s.results.size() >= kMaxSessionResults) {
    // The client must acknowledge results first (WriteContext).
    result->set_code(v1::INVALID_ARGUMENT);
  } else {
    SYNOD_RETURN_IF_ERROR(ApplyTxn(limits, revision, command, st, result));
    // Read again: the txn's ephemerals changed the session's count.
    SYNOD_ASSIGN_OR_RETURN(std::optional<Session> after, st->GetSession(write.session_id()));
    if (!after.has_value()) return absl::DataLossError("a session vanished during its write");
    after->acked_below = s.acked_below;
    after->results = std::move(s.results);
    auto at = std::lower_bound(after->results.begin(), after->results.end(), sequence,
                               [](const WriteResult& r, uint64_t q) { return r.sequence < q; });
    after->results.insert(at, WriteResult{sequence, result->SerializeAsString()});
    st->PutSession(*std::move(after));
    return absl::OkStatus();
  }
  if (acked) st->PutSession(std::move(s));
  return absl::OkStatus();
}

absl::Status ApplyOpenSession(const ApplyLimits& limits, uint64_t revision,
                              const v1::Command& command, Overlay* st, v1::CommandResult* result) {
  const v1::OpenSessionCommand& open = command.open_session();
  // As ZooKeeper negotiates: any request, even 0 or negative, gets the
  // nearest timeout within the recorded bounds.
  const int64_t timeout_ms =
      std::clamp(open.timeout_ms(), limits.min_session_timeout_ms, limits.max_session_timeout_ms);
  Session s;
  s.id = revision;
  s.timeout_ms = timeout_ms;
  s.secret = open.secret();
  s.owner = OwnerOf(command.caller());
  st->PutSession(std::move(s));
  result->set_code(v1::OK);
  result->set_session_id(revision);
  result->set_session_timeout_ms(timeout_ms);
  return absl::OkStatus();
}

absl::Status ApplyCloseSession(const ApplyLimits& limits, uint64_t revision,
                               const v1::Command& command, Overlay* st, v1::CommandResult* result) {
  uint64_t id = command.close_session().session_id();
  absl::StatusOr<std::optional<Session>> session = st->GetSession(id);
  if (!session.ok()) return session.status();
  if (id == 0 || !session->has_value()) {
    result->set_code(v1::SESSION_EXPIRED);
    return absl::OkStatus();
  }
  if (!MayUse(command.caller(), **session)) {
    result->set_code(v1::PERMISSION_DENIED);
    return absl::OkStatus();
  }
  result->set_code(v1::OK);
  return EndSession(limits, revision, command.leader_time_ms(), id, st);
}

absl::Status ApplyExpireSessions(const ApplyLimits& limits, uint64_t revision,
                                 const v1::Command& command, Overlay* st,
                                 v1::CommandResult* result) {
  for (uint64_t id : command.expire_sessions().session_ids()) {
    absl::StatusOr<std::optional<Session>> session = st->GetSession(id);
    if (!session.ok()) return session.status();
    if (id == 0 || !session->has_value()) continue;
    SYNOD_RETURN_IF_ERROR(EndSession(limits, revision, command.leader_time_ms(), id, st));
  }
  result->set_code(v1::OK);
  return absl::OkStatus();
}

}  // namespace synod::storage::apply_internal
