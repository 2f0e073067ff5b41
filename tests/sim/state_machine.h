// ListStateMachine: the simulator's replicated application.
//
// Each normal entry carrying a client value appends (index, value) to a list;
// every applied entry, no-ops and membership changes included, is folded into
// a running digest. Replicas that applied the same entries in the same order
// hold equal lists and digests, so comparing digests at an index checks state
// machine safety, and the list answers "does this state include write W?".
//
// Not thread-safe; owned by one simulated replica. Lost on a crash: the
// replica restarts from its last durable snapshot (Serialize/Restore).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/types.h"

namespace synod::sim {

// A stable 64-bit hash of an entry's type and payload (FNV-1a, then mixed):
// the simulator's way to tell whether two entries are the same entry.
uint64_t EntryHash(const raft::Entry& entry);

// Client values travel as entry data: 8 bytes of id, then padding.
std::string EncodeValue(uint64_t id, size_t padding);
std::optional<uint64_t> DecodeValue(const std::string& data);

class ListStateMachine {
 public:
  struct Value {
    raft::LogIndex index = 0;
    uint64_t id = 0;
  };

  // Applies the next committed entry; the caller checks that its index is
  // applied() + 1.
  void Apply(const raft::Entry& entry);
  // Serialized state (applied index, digest, values); the membership travels
  // in the snapshot metadata.
  std::string Serialize() const;
  // Replaces the state by a snapshot's. InvalidArgument if data is corrupt.
  absl::Status Restore(const raft::Snapshot& snapshot);

  raft::LogIndex applied() const { return applied_; }
  uint64_t digest() const { return digest_; }
  const std::vector<Value>& values() const { return values_; }
  bool Contains(raft::LogIndex index, uint64_t id) const;
  const raft::ConfState& conf_state() const { return conf_state_; }
  void set_conf_state(const raft::ConfState& conf_state) { conf_state_ = conf_state; }

 private:
  raft::LogIndex applied_ = 0;
  uint64_t digest_ = 0;
  std::vector<Value> values_;   // sorted by index
  raft::ConfState conf_state_;  // membership as of applied_
};

}  // namespace synod::sim
