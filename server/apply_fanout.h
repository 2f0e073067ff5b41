// ApplyFanout: what the apply thread tells the rest of the replica after
// each batch: the watch hub gets every applied revision and its events; the
// session tracker learns of opened, closed and expired sessions (on every
// replica, so a new leader already knows them), and the hub cancels the
// watches of a session that is gone. A restore resets both.
//
// Thread: the apply thread (ApplyObserver); never blocks.
#pragma once

#include "server/session/session_tracker.h"
#include "server/state_machine.h"
#include "server/watch/watch_hub.h"
#include "storage/tree_store.h"

namespace synod::server {

class ApplyFanout final : public ApplyObserver {
 public:
  // Not owned; all outlive the fan-out.
  ApplyFanout(WatchHub* hub, SessionTracker* sessions, storage::TreeStore* store)
      : hub_(hub), sessions_(sessions), store_(store) {}

  void OnApplied(absl::Span<const AppliedEntry> entries) override;
  void OnRestored(uint64_t index) override;

 private:
  WatchHub* const hub_;
  SessionTracker* const sessions_;
  storage::TreeStore* const store_;
};

}  // namespace synod::server
