// RawNode: the whole Raft protocol as a deterministic state machine.
//
// Thread: single-threaded; its owner (the driver, or the simulator) calls it
// from one thread. It touches no clock, file, socket or OS randomness: time
// is Tick(), input is Step()/Propose()/..., output is the Ready.
//
// Errors: Propose/ProposeConfChange return FailedPrecondition when this node
// cannot accept (no leader known, transfer in progress, a membership change
// pending) and ResourceExhausted when the uncommitted tail is full. A dropped
// proposal is never reported later: the driver times it out.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/config.h"
#include "raft/ready.h"
#include "raft/types.h"

namespace synod::raft {

// Per-follower replication state as the leader sees it (§10.2.1).
struct ProgressStatus {
  NodeId id = kNoNode;
  LogIndex match = 0;
  LogIndex next = 0;
  bool learner = false;
  bool recent_active = false;
  enum class State { kProbe, kReplicate, kSnapshot } state = State::kProbe;
};

struct Status {
  NodeId id = kNoNode;
  HardState hard_state;
  SoftState soft_state;
  LogIndex applied = 0;
  LogIndex last_index = 0;
  ConfState conf_state;
  NodeId lead_transferee = kNoNode;
  std::vector<ProgressStatus> progress;  // leader only, sorted by id
};

class RaftImpl;

class RawNode {
 public:
  static absl::StatusOr<std::unique_ptr<RawNode>> Create(const Config& config);
  ~RawNode();
  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  // Advances logical time by one tick.
  void Tick();
  // Starts an election now (bootstrap, tests).
  absl::Status Campaign();
  // Proposes an application command (forwarded to the leader if a follower).
  absl::Status Propose(std::string data);
  // Proposes a membership change; it takes effect when the driver applies
  // the committed entry and calls ApplyConfChange.
  absl::Status ProposeConfChange(const ConfChange& change);
  // Applies a committed membership change; returns the new membership.
  ConfState ApplyConfChange(const ConfChange& change);
  // Feeds a message from a peer (or a local MSG_* report).
  absl::Status Step(Message message);
  // Requests a linearizable read point (§6.4); answered in a Ready's
  // read_states with the same context, or dropped (driver times it out).
  void ReadIndex(std::string context);
  // Asks the leader to hand leadership to `transferee` (§3.10).
  void TransferLeader(NodeId transferee);
  void ReportUnreachable(NodeId id);
  void ReportSnapshot(NodeId id, bool success);

  bool HasReady() const;
  Ready GetReady();
  // Acknowledges that everything in `ready` was done (see ready.h).
  void Advance(const Ready& ready);

  raft::Status GetStatus() const;

 private:
  explicit RawNode(std::unique_ptr<RaftImpl> impl);
  std::unique_ptr<RaftImpl> impl_;
};

}  // namespace synod::raft
