// RaftImpl: the Raft protocol state of one node. RawNode wraps it and turns
// its outputs into Readies; the simulator and the driver only see RawNode.
//
// The implementation is split by protocol concern:
//   raft.cc                 construction, terms, roles, ticks, Step dispatch
//   election.cc             elections, pre-vote, votes (§3.4, §9.6, §4.2.3)
//   replication.cc          AppendEntries both sides, commit (§3.5, §3.6)
//   read_index.cc           linearizable reads (§6.4)
//   snapshot.cc             InstallSnapshot both sides (§5)
//   membership.cc           single-server membership changes (§4.1)
//   leadership_transfer.cc  TimeoutNow (§3.10)
//
// Thread: single-threaded (the owner of the RawNode).
// Invariants (checked with SYNOD_DCHECK, see CheckInvariants):
//   - term_ never decreases; vote_ changes at most once per term;
//   - the commit index never decreases, applied <= committed <= last index;
//   - a leader only appends after its own last index (never overwrites);
//   - a leader's own match index only counts durable entries.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/config.h"
#include "raft/raft_log.h"
#include "raft/read_only.h"
#include "raft/ready.h"
#include "raft/tracker.h"
#include "raft/types.h"

namespace synod::raft {

class RaftImpl {
 public:
  static absl::StatusOr<std::unique_ptr<RaftImpl>> Create(const Config& config);

  // --- inputs -------------------------------------------------------------
  void Tick();
  // Local messages have term 0 (MSG_PROP, MSG_READ_INDEX, MSG_TRANSFER_LEADER,
  // MSG_SNAP_STATUS, MSG_UNREACHABLE); others come from peers.
  absl::Status Step(Message m);
  // Starts an election (pre-vote first if configured).
  absl::Status Hup(bool transfer);
  absl::Status ProposeConfChange(const ConfChange& change);
  ConfState ApplyConfChange(const ConfChange& change);

  // --- driver feedback (RawNode::Advance) ----------------------------------
  // Entries up to (index, term) are durable: a leader counts itself.
  void OnPersisted(LogIndex index, Term term);
  void OnSnapshotPersisted(LogIndex index);
  void OnApplied(LogIndex index);
  // Sends the MSG_APPs that proposals since the last Ready asked for: all
  // proposals between two Readies share one MSG_APP per follower. Likewise
  // one heartbeat round for the ReadIndex requests since the last Ready.
  void FlushBroadcast();

  // --- outputs and state ---------------------------------------------------
  NodeId id() const { return id_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId lead() const { return lead_; }
  Role role() const { return role_; }
  NodeId lead_transferee() const { return lead_transferee_; }
  int election_elapsed() const { return election_elapsed_; }
  int randomized_election_timeout() const { return randomized_election_timeout_; }
  const RaftLog& log() const { return log_; }
  RaftLog& mutable_log() { return log_; }
  const ProgressTracker& tracker() const { return tracker_; }
  const Config& config() const { return config_; }
  HardState GetHardState() const;
  SoftState GetSoftState() const { return SoftState{lead_, role_}; }
  bool Promotable() const;

  std::vector<Message>& msgs() { return msgs_; }
  std::vector<Message>& msgs_after_persist() { return msgs_after_persist_; }
  std::vector<ReadState>& read_states() { return read_states_; }
  bool bcast_pending() const { return bcast_pending_; }
  bool read_bcast_pending() const { return read_bcast_pending_; }
  // Committed entries were handed out: the uncommitted tail shrinks.
  void ReduceUncommittedSize(const std::vector<Entry>& entries);

 private:
  explicit RaftImpl(const Config& config);

  // raft.cc
  void Reset(Term term);
  void BecomeFollower(Term term, NodeId lead);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void ResetRandomizedElectionTimeout();
  void TickElection();
  void TickHeartbeat();
  void Send(Message m);
  absl::Status StepLocalOrRole(Message& m);
  absl::Status StepLeader(Message& m);
  absl::Status StepCandidate(Message& m);
  absl::Status StepFollower(Message& m);
  void CheckInvariants() const;

  // election.cc
  void Campaign(bool pre_vote, bool transfer);
  void HandleVoteRequest(const Message& m);
  // Records a vote response and acts on the outcome.
  void Poll(const Message& m);
  bool HasUnappliedConfChanges() const;

  // replication.cc
  // Appends entries at the end of the leader's log; false if the
  // uncommitted tail is full.
  bool AppendEntries(std::vector<Entry>* entries);
  absl::Status HandlePropose(Message& m);
  bool MaybeSendAppend(NodeId to, bool send_if_empty);
  void SendAppend(NodeId to) { MaybeSendAppend(to, true); }
  void BroadcastAppend();
  void BroadcastHeartbeat(const std::string& context);
  void SendHeartbeat(NodeId to, const std::string& context);
  bool MaybeCommit();
  void HandleAppendEntries(Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleAppendResponse(const Message& m);
  void HandleHeartbeatResponse(const Message& m);
  bool CommittedEntryInCurrentTerm() const;

  // read_index.cc
  void HandleReadIndexAsLeader(Message& m);
  void HandleReadIndexResponse(const Message& m);
  void AckReadIndexRound(const Message& m);
  void ReleasePendingReadIndexMessages();
  void RespondToReadIndex(Message req, LogIndex index);

  // snapshot.cc
  // Sends a snapshot to `to`; false if none is available yet.
  bool SendSnapshot(NodeId to);
  void HandleSnapshot(Message& m);
  bool Restore(Snapshot snapshot);
  void HandleSnapshotStatus(const Message& m);

  // membership.cc
  absl::Status CheckConfChange(const ConfChange& change) const;
  absl::Status CheckConfChangeEntry(const Entry& entry) const;
  // A leader that applied its own removal keeps leading (not counted, no
  // new proposals) until a majority of the new voters reported a commit
  // index covering the removal, then hands over and steps down.
  void MaybeStepDownAfterRemoval();
  void StepDownAfterRemoval();

  // leadership_transfer.cc
  void HandleTransferLeader(const Message& m);
  void SendTimeoutNow(NodeId to);
  void AbortLeaderTransfer() { lead_transferee_ = kNoNode; }

  Config config_;
  const NodeId id_;
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  RaftLog log_;
  ProgressTracker tracker_;
  Role role_ = Role::kFollower;
  NodeId lead_ = kNoNode;
  // §3.10: the node leadership is being handed to, while a transfer runs.
  NodeId lead_transferee_ = kNoNode;
  // Index of the latest membership change the leader appended; another may
  // only be proposed once it is applied (one change at a time, §4.1).
  LogIndex pending_conf_index_ = 0;
  // Set on a leader that applied its own removal: the index the new voters
  // must know committed before it steps down (0 otherwise).
  LogIndex removal_index_ = 0;
  // Bytes of the leader's entries appended but not yet handed out committed.
  uint64_t uncommitted_size_ = 0;
  ReadOnlyQueue read_only_;
  // ReadIndex requests that arrived before the leader committed an entry of
  // its term (§6.4 step 1); served once it has.
  std::vector<Message> pending_read_index_msgs_;

  // Ticks since the last heartbeat from a leader (follower) or since the
  // last check-quorum round (leader).
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  std::mt19937_64 rng_;

  std::vector<Message> msgs_;
  std::vector<Message> msgs_after_persist_;
  std::vector<ReadState> read_states_;
  bool bcast_pending_ = false;
  // ReadIndex requests arrived since the last Ready: one heartbeat round,
  // carrying the newest one's context, confirms them all (§6.4: it is sent
  // after each of them arrived, and its acknowledgement advances every
  // request queued before that context).
  bool read_bcast_pending_ = false;
  std::string read_bcast_context_;
  // A MSG_TIMEOUT_NOW arrived while a committed membership change was not
  // applied yet; campaign as soon as it is (same term only).
  bool campaign_after_apply_ = false;

  // For invariant checks: the last values seen.
  mutable Term checked_term_ = 0;
  mutable NodeId checked_vote_ = kNoNode;
  mutable LogIndex checked_commit_ = 0;
};

}  // namespace synod::raft
