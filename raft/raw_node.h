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

#include <cstdint>
#include <memory>
#include <optional>
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
  // Election timer: ticks since the last reset, and the randomized timeout
  // drawn for this round (for tests and traces).
  int election_elapsed = 0;
  int randomized_election_timeout = 0;
  LogIndex committed = 0;  // == hard_state.commit()
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
  // Feeds a message from a peer. Refused, changing nothing, when no honest
  // peer could have sent it (etcd's ErrStepLocalMsg, ErrStepPeerNotFound):
  //   InvalidArgument: an unknown type; a type only this node's driver
  //     reports (MSG_UNREACHABLE, MSG_SNAP_STATUS: ReportUnreachable and
  //     ReportSnapshot); no sender, or this node named as the sender (but
  //     for a forwarded request that comes back, see IsForwardedRequest); a
  //     receiver other than this node; a term on a forwarded request, or
  //     none on any other message.
  //   NotFound: an answer (votes, acks, read index) from a node that is not
  //     a member: it counts in no quorum.
  //   FailedPrecondition: a read index answer from a node other than the
  //     leader this node knows (§6.4: only the leader sets read indexes).
  // Otherwise what the protocol returns (a forwarded proposal without a
  // leader: FailedPrecondition).
  absl::Status Step(Message message);
  // Requests a linearizable read point (§6.4); answered in a Ready's
  // read_states with the same context, or dropped (driver times it out).
  // The context must be non-empty and unique among pending reads.
  void ReadIndex(std::string context);
  // Asks the leader to hand leadership to `transferee` (§3.10). Proposals
  // are refused until the transfer ends (new leader, or abandoned after an
  // election timeout).
  void TransferLeader(NodeId transferee);
  void ReportUnreachable(NodeId id);
  void ReportSnapshot(NodeId id, bool success);

  // True when GetReady would return work. False while a Ready is
  // outstanding (between GetReady and Advance).
  bool HasReady() const;
  // At most one Ready is outstanding: call Advance before the next
  // GetReady (checked). Tick/Step/Propose/... may be called in between;
  // their output goes into the next Ready. The driver may move anything out
  // of the Ready before calling Advance.
  Ready GetReady();
  // Acknowledges that everything in `ready` was done (see ready.h): its
  // entries and snapshot are durable and its committed entries applied (or
  // handed to the apply thread, see ready.h).
  void Advance(const Ready& ready);

  raft::Status GetStatus() const;
  // The current term and soft state, as they are now (a Ready reports them
  // later); cheap enough for a check per message.
  Term term() const;
  SoftState soft_state() const;

  // While paused, Readies hand out no committed entries (HasReady ignores
  // them); ticks, messages, appends and commits go on. A driver whose apply
  // queue is full pauses instead of blocking, so back-pressure from a slow
  // state machine never stops heartbeats or costs a leader its leadership
  // (as etcd's and raft-rs's async application do). Unpausing hands out
  // everything committed meanwhile, in order.
  void PauseCommittedEntries(bool paused) { committed_paused_ = paused; }
  bool committed_entries_paused() const { return committed_paused_; }

 private:
  explicit RawNode(std::unique_ptr<RaftImpl> impl);
  // The refusals of Step (see there).
  absl::Status CheckPeerMessage(const Message& m) const;

  // What the outstanding Ready handed out, for Advance.
  struct Outstanding {
    uint64_t number = 0;
    LogIndex last_entry_index = 0;
    Term last_entry_term = 0;
    LogIndex snapshot_index = 0;
    LogIndex last_committed_index = 0;
  };

  std::unique_ptr<RaftImpl> impl_;
  uint64_t ready_number_ = 0;
  SoftState prev_soft_state_;
  HardState prev_hard_state_;
  std::optional<Outstanding> outstanding_;
  bool committed_paused_ = false;
};

}  // namespace synod::raft
