// ReadIndexBatcher: the linearizable reads (§6.4) one replica asks its core
// for, in rounds. All reads that wait when a round starts share it: one
// ReadIndex request, one heartbeat round on the leader. A read never joins a
// round already started (that round's read index may predate the read); it
// waits for the next one, and at most kMaxRounds rounds are in flight, so
// under load each round serves more reads for the same heartbeats. A round
// the core dropped (leader change, lost message) is asked again after
// `retry_ticks` ticks; the requests' own deadlines bound the whole wait.
//
// Promises: every read handed to Add is, exactly once, served (handed to
// `serve` with the read index of its round), failed (`fail`: no leader), or
// left to its deadline once `pending` says it finished elsewhere.
//
// Thread: the raft thread only (the owner of the RawNode).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "raft/raw_node.h"
#include "raft/types.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

class ReadIndexBatcher {
 public:
  static constexpr size_t kMaxRounds = 2;

  struct Hooks {
    // Whether request `id` still waits (a finished one needs no round).
    std::function<bool(uint64_t id)> pending;
    // Completes `ids` with `code` (UNAVAILABLE: no leader).
    std::function<void(const std::vector<uint64_t>& ids, v1::ErrorCode code,
                       const std::string& why)>
        fail;
    // Serves `ids` once the state machine has applied `index`.
    std::function<void(raft::LogIndex index, std::vector<uint64_t> ids)> serve;
  };

  // `self` and `nonce` (different per process start) make round contexts
  // unique cluster-wide: the leader keys pending rounds by context for every
  // replica's reads, and a clash would drop a round until its retry.
  ReadIndexBatcher(raft::NodeId self, uint64_t nonce, int retry_ticks, Hooks hooks);

  // Queues reads for the next round.
  void Add(const std::vector<uint64_t>& ids);
  // Starts a round of the queued reads unless kMaxRounds are in flight.
  // True if one was started. `has_leader`: false fails them at once.
  bool MaybeIssue(raft::RawNode* node, bool has_leader);
  // One tick: rounds older than retry_ticks are asked again.
  void Tick(raft::RawNode* node, bool has_leader);
  // A read state from a Ready: serves its round (unknown contexts are rounds
  // already retried under another context).
  void OnReadState(const raft::ReadState& rs);

  // kMaxRounds rounds are in flight: new reads can only be queued.
  bool rounds_full() const { return rounds_.size() >= kMaxRounds; }
  // Reads queued or in a round.
  size_t held() const;

 private:
  struct Round {
    std::vector<uint64_t> ids;
    int age_ticks = 0;
  };
  void Issue(raft::RawNode* node, bool has_leader, std::vector<uint64_t> ids);

  const raft::NodeId self_;
  const uint64_t nonce_;
  const int retry_ticks_;
  const Hooks hooks_;
  uint64_t next_ctx_ = 1;
  std::vector<uint64_t> queued_;          // waiting for the next round
  std::map<std::string, Round> rounds_;  // in flight, by ReadIndex context
};

}  // namespace synod::server
