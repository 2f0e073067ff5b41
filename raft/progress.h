// Progress: what the leader knows of one follower's log, and how it sends
// to it (dissertation §3.5 nextIndex/matchIndex, §10.2.1 pipelining).
//
//   kProbe:     the leader does not know where the follower's log matches;
//               it sends one MSG_APP and waits for the answer (probe_sent).
//   kReplicate: the follower matches up to `match`; the leader streams
//               MSG_APPs optimistically (next runs ahead of match), bounded
//               by the inflight window.
//   kSnapshot:  the follower needs entries the leader compacted; a snapshot
//               is on its way and nothing else is sent until it is reported.
//
// Thread: owned by the leader's ProgressTracker, single-threaded.
// Invariants: match < next; match never decreases while this node stays
//   leader; in kSnapshot, pending_snapshot > 0.
#pragma once

#include <cstdint>
#include <string>

#include "raft/inflights.h"
#include "raft/types.h"

namespace synod::raft {

enum class ProgressState { kProbe, kReplicate, kSnapshot };

const char* ProgressStateName(ProgressState state);

struct Progress {
  Progress(LogIndex next_index, size_t max_inflight, uint64_t max_inflight_bytes, bool is_learner)
      : next(next_index), inflights(max_inflight, max_inflight_bytes), learner(is_learner) {}

  LogIndex match = 0;
  LogIndex next = 1;
  ProgressState state = ProgressState::kProbe;
  // In kSnapshot: the index of the snapshot being sent.
  LogIndex pending_snapshot = 0;
  // Heard from since the last check-quorum round (§6.2).
  bool recent_active = false;
  // In kProbe: a probe is outstanding, send nothing more until an answer or
  // the next heartbeat.
  bool probe_sent = false;
  Inflights inflights;
  bool learner = false;
  // The commit index last sent in a MSG_APP: an empty MSG_APP that would
  // only repeat it is not sent.
  LogIndex commit_sent = 0;
  // The commit index the follower last reported (in its MSG_APP_RESP or
  // MSG_HEARTBEAT_RESP): a removed leader waits for the new configuration
  // to know its removal is committed before stepping down.
  LogIndex commit_known = 0;

  // A new term: nothing is known of the follower; probe from `next_index`.
  void ResetForNewTerm(LogIndex next_index);
  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(LogIndex snapshot_index);
  // An acknowledgement up to n: returns true if it moved match forward.
  bool MaybeUpdate(LogIndex n);
  // Entries up to n were just sent in replicate state.
  void OptimisticUpdate(LogIndex n) { next = n + 1; }
  // A rejection of the MSG_APP whose previous index was `rejected`, with the
  // follower's hint that its log may match at `match_hint`. Returns false
  // if the rejection is stale (answers an older message).
  bool MaybeDecrTo(LogIndex rejected, LogIndex match_hint);
  // The leader must not send (more) entries now.
  bool IsPaused() const;

  std::string DebugString() const;

 private:
  void ResetState(ProgressState state);
};

}  // namespace synod::raft
