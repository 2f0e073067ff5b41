#include "server/apply_fanout.h"

#include <vector>

#include "absl/time/clock.h"
#include "base/log.h"

namespace synod::server {

void ApplyFanout::OnApplied(absl::Span<const AppliedEntry> entries) {
  const absl::Time now = absl::Now();
  for (const AppliedEntry& e : entries) {
    hub_->OnApplied(e.index, e.outcome->events);
    if (e.command == nullptr) continue;
    const v1::CommandResult& result = e.outcome->result;
    switch (e.command->body_case()) {
      case v1::Command::kOpenSession:
        if (result.code() == v1::OK) {
          sessions_->Add(result.session_id(),
                         absl::Milliseconds(result.session_timeout_ms() > 0
                                                ? result.session_timeout_ms()
                                                : e.command->open_session().timeout_ms()),
                         now);
        }
        break;
      case v1::Command::kCloseSession:
        if (result.code() == v1::OK) {
          sessions_->Remove(e.command->close_session().session_id());
          hub_->CancelSession(e.command->close_session().session_id());
        }
        break;
      case v1::Command::kExpireSessions:
        for (uint64_t id : e.command->expire_sessions().session_ids()) {
          sessions_->Remove(id);
          hub_->CancelSession(id);
        }
        break;
      default:
        break;
    }
  }
}

void ApplyFanout::OnRestored(uint64_t index) {
  hub_->OnRestored(index);
  absl::StatusOr<std::vector<storage::Session>> sessions = store_->ListSessions();
  if (!sessions.ok()) {
    base::Log("cannot list sessions after restore: %s", sessions.status().ToString().c_str());
    return;
  }
  std::vector<SessionTracker::SessionInfo> infos;
  for (const storage::Session& s : *sessions) {
    infos.push_back({s.id, absl::Milliseconds(s.timeout_ms)});
  }
  sessions_->Reset(infos, absl::Now());
}

}  // namespace synod::server
