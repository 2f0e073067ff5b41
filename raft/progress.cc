#include "raft/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace synod::raft {

const char* ProgressStateName(ProgressState state) {
  switch (state) {
    case ProgressState::kProbe:
      return "StateProbe";
    case ProgressState::kReplicate:
      return "StateReplicate";
    case ProgressState::kSnapshot:
      return "StateSnapshot";
  }
  return "StateUnknown";
}

void Progress::ResetState(ProgressState new_state) {
  probe_sent = false;
  pending_snapshot = 0;
  state = new_state;
  inflights.Reset();
}

void Progress::ResetForNewTerm(LogIndex next_index) {
  ResetState(ProgressState::kProbe);
  match = 0;
  next = next_index;
  recent_active = false;
  commit_sent = 0;
  commit_known = 0;
}

void Progress::BecomeProbe() {
  // Coming back from a snapshot, the follower has at least the snapshot
  // (if it was installed) so probing starts right after it.
  if (state == ProgressState::kSnapshot) {
    const LogIndex pending = pending_snapshot;
    ResetState(ProgressState::kProbe);
    next = std::max(match + 1, pending + 1);
  } else {
    ResetState(ProgressState::kProbe);
    next = match + 1;
  }
}

void Progress::BecomeReplicate() {
  ResetState(ProgressState::kReplicate);
  next = match + 1;
}

void Progress::BecomeSnapshot(LogIndex snapshot_index) {
  ResetState(ProgressState::kSnapshot);
  pending_snapshot = snapshot_index;
}

bool Progress::MaybeUpdate(LogIndex n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::MaybeDecrTo(LogIndex rejected, LogIndex match_hint) {
  if (state == ProgressState::kReplicate) {
    // Stale if it rejects something already known to match. Otherwise the
    // pipeline broke: restart right after the known match.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // In probe state only the answer to the last probe counts.
  if (next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

std::string Progress::DebugString() const {
  std::string out = absl::StrCat(ProgressStateName(state), " match=", match, " next=", next);
  if (learner) absl::StrAppend(&out, " learner");
  if (probe_sent) absl::StrAppend(&out, " paused");
  if (state == ProgressState::kSnapshot) absl::StrAppend(&out, " pendingSnap=", pending_snapshot);
  if (!recent_active) absl::StrAppend(&out, " inactive");
  if (inflights.Count() > 0) absl::StrAppend(&out, " inflight=", inflights.Count());
  return out;
}

}  // namespace synod::raft
