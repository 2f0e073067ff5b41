// The parts of ApplyCommand (apply.h) that its files share: apply.cc (the
// dispatch, the tree ops, TTL and container removal, history compaction),
// apply_acl.cc (ACL checks, setACL, the ACLs events carry),
// apply_sessions.cc, apply_settings.cc, apply_auth.cc (users and the
// auth switch) and apply_quota.cc (quotas and the ephemeral limit). Internal to apply; other code
// goes through apply.h.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/acl.h"
#include "storage/apply.h"
#include "storage/node.h"
#include "storage/overlay.h"
#include "synod/v1/command.pb.h"

namespace synod::storage::apply_internal {

// What one command's ops share.
struct OpContext {
  const ApplyLimits& limits;
  uint64_t revision;
  int64_t time_ms;
  uint64_t session_id;  // the writer's session (ephemeral owner), 0 if none
  // Who sent the command; null for internal commands (session expiry, TTL
  // and container removal), which no ACL applies to.
  const v1::Caller* caller;
  // Parents that lost a child: candidates for container removal once the
  // command has succeeded.
  std::set<std::string>* lost_child;
};

// An op's expected version (or aversion) against the node's: absent or -1
// matches any.
inline bool VersionMatches(bool has_expected, int64_t expected, int64_t actual) {
  return !has_expected || expected == -1 || expected == actual;
}

// True if the command's caller may do `perm` on a node with `acl`
// (storage::Permits); always for internal commands (no caller).
bool Allowed(const OpContext& ctx, const Acl& acl, uint32_t perm);
// The ACL a create or setACL gives, as the node stores it (ResolveAcl,
// for the command's caller; no caller: anonymous). Error: INVALID_ACL.
absl::StatusOr<Acl> ResolveGivenAcl(const OpContext& ctx,
                                    const google::protobuf::RepeatedPtrField<v1::Acl>& given);
// Adds a watch event at ctx's revision about `path`, carrying `acl` (the
// ACL that decides who may see it; empty when open) and `stat` if not null.
void AddEvent(Overlay* st, v1::EventType type, std::string_view path, uint64_t revision,
              const NodeStat* stat, const Acl& acl);
// ZooKeeper's setACL (PERM_ADMIN on the node, aversion + 1), as one op.
absl::Status DoSetAcl(Overlay* st, const OpContext& ctx, const v1::SetAclOp& op,
                      v1::OpResult* r);

// QUOTA_EXCEEDED if adding `nodes` nodes of `kind` with `bytes` more data
// at `path` would take a subtree quota over its limit, or (for an
// ephemeral) ctx's session over the settings' ephemeral limit; else OK.
// Errors: as Overlay::GetSession.
absl::StatusOr<v1::ErrorCode> CheckQuotas(Overlay* st, const OpContext& ctx, std::string_view path, NodeKind kind,
                          int64_t nodes, int64_t bytes);

// Deletes an existing node (a leaf) with its tombstone, its parent's update
// and both events. Used by delete ops, session close/expiry, TTL and
// container removal alike.
absl::Status RemoveNode(Overlay* st, const OpContext& ctx, std::string_view path, const Node& node);
// Removes containers that lost their last child in this command, and their
// containing containers in turn (deepest first).
absl::Status RemoveEmptyContainers(Overlay* st, const OpContext& ctx);

// The commands, each as ApplyCommand documents it; `limits` are the
// effective ones (EffectiveLimits).
absl::Status ApplyTxn(const ApplyLimits& limits, uint64_t revision, const v1::Command& command,
                      Overlay* st, v1::CommandResult* result);
// A txn with write.session_id != 0: the session must be live; with a
// sequence, applied once (the session's stored result answers a repeat).
absl::Status ApplyExactlyOnce(const ApplyLimits& limits, uint64_t revision,
                              const v1::Command& command, Overlay* st, v1::CommandResult* result);
absl::Status ApplyOpenSession(const ApplyLimits& limits, uint64_t revision,
                              const v1::Command& command, Overlay* st, v1::CommandResult* result);
absl::Status ApplyCloseSession(const ApplyLimits& limits, uint64_t revision,
                               const v1::Command& command, Overlay* st, v1::CommandResult* result);
absl::Status ApplyExpireSessions(const ApplyLimits& limits, uint64_t revision,
                                 const v1::Command& command, Overlay* st,
                                 v1::CommandResult* result);
// Records the settings a SetSettingsCommand asks for.
void ApplySetSettings(const ApplyLimits& limits, const v1::SetSettingsCommand& set, Overlay* st,
                      v1::CommandResult* result);
// The user and auth-switch commands (command.proto UserPutCommand,
// UserDeleteCommand, AuthSetCommand).
void ApplyUserPut(uint64_t revision, const v1::Command& command, Overlay* st,
                  v1::CommandResult* result);
void ApplyUserDelete(const v1::Command& command, Overlay* st, v1::CommandResult* result);
void ApplyAuthSet(const v1::Command& command, Overlay* st, v1::CommandResult* result);
// The quota commands (command.proto QuotaSetCommand, QuotaDeleteCommand).
absl::Status ApplyQuotaSet(const v1::Command& command, Overlay* st, v1::CommandResult* result);
void ApplyQuotaDelete(const v1::Command& command, Overlay* st, v1::CommandResult* result);

}  // namespace synod::storage::apply_internal
