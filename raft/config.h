// Config: everything that shapes one Raft core. Time is in ticks; the driver
// decides how long a tick is (Synod: heartbeat interval).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "raft/types.h"

namespace synod::raft {

class LogStorage;

struct Config {
  NodeId id = kNoNode;
  // A follower that hears no leader for a random number of ticks in
  // [election_tick, 2*election_tick) starts an election (§3.4).
  int election_tick = 10;
  int heartbeat_tick = 1;
  // Durable log and state; not owned; must outlive the core.
  const LogStorage* storage = nullptr;
  // The last index the driver's state machine has applied (restart point;
  // entries after it are handed out again). May exceed the persisted
  // commit index (an applied entry is committed); must not exceed the
  // durable log. 0 means the storage's snapshot index.
  LogIndex applied = 0;
  // Flow control (§10.2.1 pipelining): bytes of entries per MSG_APP and
  // MSG_APP in flight per follower.
  uint64_t max_size_per_msg = 1 << 20;
  int max_inflight_msgs = 256;
  // Bytes of entries in flight per follower (0 = no limit).
  uint64_t max_inflight_bytes = 0;
  // Bytes of committed entries per Ready (0 = no limit).
  uint64_t max_committed_size_per_ready = 16 << 20;
  // Bytes of uncommitted entries a leader accepts before refusing proposals
  // (0 = no limit).
  uint64_t max_uncommitted_entries_size = 0;
  bool pre_vote = true;      // §9.6
  bool check_quorum = true;  // §6.2: a leader that loses its quorum steps down
  // Seed of the core's own PRNG (election jitter). Same seed, same history.
  // The core mixes `id` into it, so nodes sharing one seed still draw
  // different timeouts.
  uint64_t seed = 0;

  // TEST ONLY. When true the leader commits an entry as soon as a majority
  // stores it, whatever its term: the unsafe rule of dissertation Figure 3.7
  // (§3.6.2), and a new leader appends no no-op entry (which would reach a
  // majority together with the old entries and mask the bug). It exists so
  // the simulator can prove its checker catches a lost committed entry.
  // Never set it outside tests.
  bool testing_unsafe_commit_prior_term = false;

  absl::Status Validate() const;
};

}  // namespace synod::raft
