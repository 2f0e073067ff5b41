// Ready: the work the Raft core hands to its driver, and how to do it.
//
// For each Ready, in this order (dissertation §10.2.1 lets the leader send
// before its own write is durable):
//   1. send `messages` at once;
//   2. durably write `snapshot` (if any), `entries` and `hard_state` in one
//      batch, synced if `must_sync`; `entries` may start below the last
//      stored index: the stored tail from there on is replaced;
//   3. send `persisted_messages` (they promise durability: votes, acks);
//   4. install `snapshot` into the state machine, then apply
//      `committed_entries` in order. For every ENTRY_CONF_CHANGE entry,
//      call RawNode::ApplyConfChange(parsed ConfChange) on the raft thread,
//      in log order, before step 5, and store the ConfState it returns
//      together with the applied index (MemoryLogStorage::SetConfState);
//      hand a `read_states` entry to its reader once the state machine has
//      applied up to its index;
//   5. call RawNode::Advance(ready).
// A driver with a separate apply thread may call Advance once the
// committed entries are queued there; ApplyConfChange must still happen on
// the raft thread before Advance. The core counts the leader's own entries
// towards commitment only after Advance reports them written.
// Anything may be moved out of the Ready before Advance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raft/types.h"

namespace synod::raft {

// Volatile state worth showing (not persisted).
struct SoftState {
  NodeId leader = kNoNode;
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

// A linearizable read point (dissertation §6.4): once the state machine has
// applied `index`, a read identified by `context` may be served.
struct ReadState {
  LogIndex index = 0;
  std::string context;
};

struct Ready {
  uint64_t number = 0;                      // increases by one per Ready
  std::optional<SoftState> soft_state;      // set when it changed
  std::optional<HardState> hard_state;      // set when it changed
  std::optional<Snapshot> snapshot;         // to persist and install
  std::vector<Entry> entries;               // to append (may overwrite a tail)
  std::vector<Entry> committed_entries;     // to apply, in order
  std::vector<Message> messages;            // send now
  std::vector<Message> persisted_messages;  // send after the write is durable
  std::vector<ReadState> read_states;
  // True when entries or a changed term/vote need an fsync before
  // persisted_messages go out. A commit-only change does not, unless the
  // commit index moved past a membership change entry: a node acts on a
  // committed membership change, so it must not forget after a crash that
  // the change was committed.
  bool must_sync = false;
};

}  // namespace synod::raft
