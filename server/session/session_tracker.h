// Session liveness: which sessions the leader should expire, and the
// follower-side batching of the heartbeats it forwards to the leader.
//
// Time is injected: callers pass `now` (the server passes absl::Now() from
// its timer thread; tests pass what they like). Nothing here reads a clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace synod::server {

// SessionTracker: a deadline per live session; on the leader, the sessions
// whose deadline passed, to be proposed in an ExpireSessionsCommand.
//
// Thread: any (one mutex). The apply thread calls Add / Remove as open,
// close and expire entries apply (on every replica, leader or not, so a new
// leader already knows every session); the raft driver calls
// OnBecomeLeader / OnLoseLeadership; heartbeat handlers call Touch; the
// leader's timer calls Expired.
//
// Invariants: every tracked session has exactly one entry in by_deadline_,
// keyed by its current deadline. Expired reports a session once, then again
// only if it is still tracked `expire_retry` later (its expiry proposal was
// lost); a session reported as expiring is not revived by Touch.
// A leader change never expires a live client: OnBecomeLeader restarts
// every clock from `now` (the new leader cannot know when the old one last
// heard from each client).
class SessionTracker {
 public:
  struct Options {
    // How long after reporting a session expired Expired reports it again
    // if it is still tracked (the proposal was dropped).
    absl::Duration expire_retry = absl::Seconds(2);
  };

  struct SessionInfo {
    uint64_t id = 0;
    absl::Duration timeout;
  };

  SessionTracker() : SessionTracker(Options()) {}
  explicit SessionTracker(Options options);

  // This replica became leader: tracks `sessions` in addition to those
  // already tracked (the replicated table as the new leader sees it; a
  // session added concurrently by the apply thread is kept), and restarts
  // every session's clock: deadline = now + timeout. Clears every
  // "expiring" mark, so a dropped expiry is proposed again if still due.
  void OnBecomeLeader(absl::Span<const SessionInfo> sessions, absl::Time now);
  // Stepped down: Expired returns nothing until OnBecomeLeader. Sessions
  // stay tracked.
  void OnLoseLeadership();
  // The state was replaced by a snapshot: tracks exactly `sessions`, clocks
  // restarted from now.
  void Reset(absl::Span<const SessionInfo> sessions, absl::Time now);

  // An open-session entry applied (id = its revision): deadline now +
  // timeout. Re-adding a tracked id refreshes it.
  void Add(uint64_t id, absl::Duration timeout, absl::Time now);
  // A close or expire entry applied. Unknown ids are ignored.
  void Remove(uint64_t id);

  // A heartbeat for `id`: deadline = now + timeout. False if the session is
  // not tracked or is already being expired (the client should be told
  // SESSION_EXPIRED once the replicated table agrees).
  bool Touch(uint64_t id, absl::Time now);
  // Touch for each id; returns those it refused, in the order given (the
  // leader's answer to a follower's KeepAliveBatch).
  std::vector<uint64_t> TouchAll(absl::Span<const uint64_t> ids, absl::Time now);

  // Leader only (empty otherwise): the sessions whose deadline is <= now,
  // by id, marked expiring.
  std::vector<uint64_t> Expired(absl::Time now);
  // The earliest deadline (including expiry retries), for the timer; none
  // if nothing is tracked.
  std::optional<absl::Time> NextDeadline() const;

  bool is_leader() const;
  size_t size() const;

 private:
  struct Entry {
    absl::Duration timeout;
    absl::Time deadline;
    bool expiring = false;
  };

  // Moves `id` to `deadline` in by_deadline_.
  void SetDeadline(uint64_t id, Entry* entry, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RestartAll(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<uint64_t, Entry> sessions_ ABSL_GUARDED_BY(mu_);
  // (deadline, id) of every tracked session; an ordered set, so Expired
  // and NextDeadline cost O(expired + log n), not a scan.
  std::set<std::pair<absl::Time, uint64_t>> by_deadline_ ABSL_GUARDED_BY(mu_);
};

// HeartbeatBatcher: on a follower, the session ids its clients heartbeated
// since the last batch, sent to the leader (Peer.KeepAliveBatch) at most once
// per `interval`, so N clients cost one RPC per interval, not N.
//
// Thread: any (one mutex). KeepAlive handlers call Add; the server's timer
// calls TakeIfDue and, if the send fails, Requeue.
// Invariant: an id is pending at most once; a batch is taken no sooner than
// `interval` after the previous one (the first one at once).
class HeartbeatBatcher {
 public:
  explicit HeartbeatBatcher(absl::Duration interval) : interval_(interval) {}

  // A new interval (the shortest session timeout changed), from the next
  // batch on.
  void set_interval(absl::Duration interval);

  void Add(uint64_t session_id);
  // The pending ids (sorted) if some are pending and `interval` has passed
  // since the last batch taken; else empty. Taking starts a new interval.
  std::vector<uint64_t> TakeIfDue(absl::Time now);
  // When to call TakeIfDue next: none if nothing is pending.
  std::optional<absl::Time> NextDue() const;
  // A batch that could not be sent: pending again (merged with newer ones).
  void Requeue(absl::Span<const uint64_t> ids);
  size_t pending() const;

 private:
  mutable absl::Mutex mu_;
  absl::Duration interval_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> pending_ ABSL_GUARDED_BY(mu_);
  absl::Time last_taken_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace synod::server
