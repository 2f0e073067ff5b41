// The parts of ApplyCommand (apply.h) that its files share: apply.cc (the
// dispatch, the tree ops, TTL and container removal, history compaction),
// apply_sessions.cc and apply_settings.cc. Internal to apply; other code
// goes through apply.h.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
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
  // Parents that lost a child: candidates for container removal once the
  // command has succeeded.
  std::set<std::string>* lost_child;
};

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

}  // namespace synod::storage::apply_internal
