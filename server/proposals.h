// Proposals: the writes this replica proposes, from the stamps they carry
// into the log to the answer of those an election decided against.
//
// Leader time: a command's leader_time_ms (ctime/mtime, TTL) must come from
// the leader's clock, but a follower forwards proposals inside the core
// (MSG_PROP). So the proposing replica stamps its own clock (Propose), and
// the leader re-stamps every forwarded entry with its own clock before it is
// stepped (FilterForwarded): every command in the log carries the clock of
// the leader that appended it, taken when it was appended. The stamp never
// goes back within one process (max with the previous stamp).
//
// Proposal terms: a proposal is valid only in the term in which it was
// first proposed. The proposing replica stamps its core's term into the
// command (proposal_term); a replica steps a forwarded entry only if that
// equals its core's term, so a leader appends it only in that term and
// nobody forwards it into a later one (a proposal that waited in a paused
// leader's socket dies there). A leader steps only proposals forwarded by
// members, and never a membership change forwarded by another member (those
// go through its own checks, see Membership). Hence a write pending when an
// entry of a later term is applied will never be applied later, and is
// answered "outcome unknown" at once (OnCommitted).
//
// Promises: a write handed to Propose is refused at once (`refuse`: no
// leader, or the core refused it), or remembered under the term it was
// proposed in until an entry of a later term is committed, then handed to
// `fail_after` if it still waits.
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
#include "synod/v1/command.pb.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

class Proposals {
 public:
  struct Hooks {
    // Whether request `id` still waits.
    std::function<bool(uint64_t id)> pending;
    // Completes request `id`, refused before it reached the log.
    std::function<void(uint64_t id, v1::ErrorCode code, const std::string& why)> refuse;
    // Requests `ids` reached the core (one call per Flush).
    std::function<void(std::vector<uint64_t> ids)> mark_proposed;
    // Completes `ids` with DEADLINE_EXCEEDED (outcome unknown) once the
    // entry at `index` is applied and the replies of its batch are out.
    std::function<void(raft::LogIndex index, std::vector<uint64_t> ids)> fail_after;
    // The wall clock, Unix milliseconds.
    std::function<int64_t()> now_ms;
  };

  Proposals(raft::NodeId self, Hooks hooks);

  // Stamps `command` (origin member, time, the core's term now) and
  // proposes it; its origin_request is the tracker id (0: none to answer).
  // `has_leader` false (as of the last Ready) refuses it with UNAVAILABLE.
  void Propose(raft::RawNode* node, bool has_leader, v1::Command* command);
  // Marks the writes proposed since the last Flush in one call.
  void Flush();
  // Keeps the entries of MSG_PROP `m` from a peer that may be stepped (see
  // "Proposal terms") and re-stamps their time on a leader. `from_member`:
  // whether m.from() is a member now. False: nothing is left to step.
  bool FilterForwarded(const raft::RawNode& node, bool from_member, raft::Message* m);
  // Committed entries handed to the apply thread, in order: the first entry
  // of a newer term decides every write of an earlier term still waiting.
  void OnCommitted(const std::vector<raft::Entry>& committed);

  // Writes remembered (proposed, not yet decided by a later term).
  size_t remembered() const;

 private:
  int64_t StampTime();
  void Remember(uint64_t request_id, raft::Term term);

  const raft::NodeId self_;
  const Hooks hooks_;
  int64_t last_stamp_ms_ = 0;
  // Tracker ids of writes proposed here, by the term they were proposed in
  // (pruned of finished ones as a term's list grows).
  std::map<raft::Term, std::vector<uint64_t>> by_term_;
  size_t prune_at_ = 1024;
  // Proposed since the last Flush.
  std::vector<uint64_t> unflushed_;
  // The highest term of an entry passed to OnCommitted.
  raft::Term committed_term_ = 0;
};

}  // namespace synod::server
