// RaftImpl: construction, terms and roles, ticks and Step dispatch.
#include "raft/raft.h"

#include <algorithm>
#include <utility>

#include "base/check.h"

namespace synod::raft {
namespace {

// Spreads nearby seeds (and node ids) over the PRNG's whole seed space.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

bool IsVoteType(MessageType t) {
  return t == raftpb::MSG_VOTE || t == raftpb::MSG_VOTE_RESP || t == raftpb::MSG_PRE_VOTE ||
         t == raftpb::MSG_PRE_VOTE_RESP;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RaftImpl>> RaftImpl::Create(const Config& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  absl::StatusOr<InitialState> initial = config.storage->GetInitialState();
  if (!initial.ok()) return initial.status();
  std::unique_ptr<RaftImpl> r(new RaftImpl(config));
  r->tracker_.SetConfState(initial->conf_state, r->log_.LastIndex() + 1);
  const HardState& hs = initial->hard_state;
  if (hs.commit() > r->log_.LastIndex()) {
    return absl::DataLossError("persisted commit index is past the last log entry");
  }
  if (config.applied > r->log_.LastIndex()) {
    return absl::DataLossError("applied index is past the last log entry");
  }
  r->term_ = hs.term();
  r->vote_ = hs.vote();
  r->log_.Init(hs.commit(), config.applied);
  r->BecomeFollower(r->term_, kNoNode);
  r->checked_term_ = r->term_;
  r->checked_vote_ = r->vote_;
  r->checked_commit_ = r->log_.committed();
  return r;
}

RaftImpl::RaftImpl(const Config& config)
    : config_(config),
      id_(config.id),
      log_(config.storage),
      tracker_(static_cast<size_t>(config.max_inflight_msgs), config.max_inflight_bytes),
      rng_(SplitMix64(config.seed ^ SplitMix64(config.id))) {}

HardState RaftImpl::GetHardState() const {
  HardState hs;
  hs.set_term(term_);
  hs.set_vote(vote_);
  hs.set_commit(log_.committed());
  return hs;
}

bool RaftImpl::Promotable() const {
  // A node installing a snapshot does not know its log yet.
  return tracker_.IsVoter(id_) && !log_.unstable().snapshot().has_value();
}

void RaftImpl::ResetRandomizedElectionTimeout() {
  // §3.4: randomized in [election_tick, 2 * election_tick) so that split
  // votes are rare and resolve quickly.
  randomized_election_timeout_ =
      config_.election_tick +
      static_cast<int>(rng_() % static_cast<uint64_t>(config_.election_tick));
}

void RaftImpl::Reset(Term term) {
  if (term_ != term) {
    SYNOD_DCHECK(term > term_) << "term going back from " << term_ << " to " << term;
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  tracker_.ResetVotes();
  const LogIndex next = log_.LastIndex() + 1;
  for (auto& [id, pr] : tracker_.progress()) pr.ResetForNewTerm(next);
  pending_conf_index_ = 0;
  removal_index_ = 0;
  uncommitted_size_ = 0;
  read_only_.Reset();
  pending_read_index_msgs_.clear();
  bcast_pending_ = false;
  read_bcast_pending_ = false;
  read_bcast_context_.clear();
  campaign_after_apply_ = false;
}

void RaftImpl::BecomeFollower(Term term, NodeId lead) {
  Reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

void RaftImpl::BecomePreCandidate() {
  SYNOD_DCHECK(role_ != Role::kLeader) << "leader cannot become pre-candidate";
  // §9.6: a pre-candidate changes neither its term nor its vote; it only
  // asks whether it could win.
  tracker_.ResetVotes();
  lead_ = kNoNode;
  role_ = Role::kPreCandidate;
}

void RaftImpl::BecomeCandidate() {
  SYNOD_DCHECK(role_ != Role::kLeader) << "leader cannot become candidate";
  Reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void RaftImpl::BecomeLeader() {
  SYNOD_DCHECK(role_ == Role::kCandidate) << "only a candidate becomes leader";
  Reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  if (Progress* self = tracker_.Get(id_)) {
    self->BecomeReplicate();
    // Only what is durable counts towards commitment (see OnPersisted).
    self->match = log_.StableLastIndex();
    self->next = log_.LastIndex() + 1;
    self->recent_active = true;
  }
  // No membership change until every entry of earlier terms is applied
  // (one change at a time, §4.1).
  pending_conf_index_ = log_.LastIndex();
  // §3.6.2: a leader commits entries of earlier terms only by committing
  // one of its own term; the empty entry does that without waiting for a
  // client.
  // (The TEST ONLY unsafe rule also skips it: the no-op would reach a
  // majority together with the old entries and mask the bug.)
  if (!config_.testing_unsafe_commit_prior_term) {
    std::vector<Entry> noop(1);
    SYNOD_CHECK(AppendEntries(&noop)) << "the no-op entry cannot be refused";
  }
  bcast_pending_ = true;
}

void RaftImpl::Tick() {
  if (role_ == Role::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
  CheckInvariants();
}

void RaftImpl::TickElection() {
  ++election_elapsed_;
  if (Promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    // A refusal (unapplied membership change) just waits for the next
    // timeout.
    Hup(/*transfer=*/false).IgnoreError();
  }
}

void RaftImpl::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_tick) {
    election_elapsed_ = 0;
    // §6.2: a leader that has not heard from a majority for an election
    // timeout steps down, so that clients find the real leader.
    if (config_.check_quorum) {
      if (!tracker_.QuorumActive(id_)) {
        BecomeFollower(term_, kNoNode);
        return;
      }
      for (auto& [id, pr] : tracker_.progress()) {
        if (id != id_) pr.recent_active = false;
      }
    }
    // §3.10: a transfer that did not finish within an election timeout is
    // abandoned and the leader accepts proposals again.
    if (lead_transferee_ != kNoNode) AbortLeaderTransfer();
    // A removed leader whose followers stay silent does not lead forever.
    if (removal_index_ != 0) {
      StepDownAfterRemoval();
      return;
    }
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    BroadcastHeartbeat(read_only_.LastContext());
  }
}

void RaftImpl::Send(Message m) {
  // A forwarded request keeps its originator (the leader answers it) and a
  // forwarded MSG_TRANSFER_LEADER keeps naming the transferee.
  if (m.from() == kNoNode) m.set_from(id_);
  const MessageType t = m.type();
  if (IsVoteType(t)) {
    SYNOD_DCHECK(m.term() != 0) << "vote messages carry their term";
  } else if (t == raftpb::MSG_PROP || t == raftpb::MSG_READ_INDEX ||
             t == raftpb::MSG_TRANSFER_LEADER) {
    // Forwarded requests are local messages to the leader: no term.
    m.set_term(0);
  } else {
    m.set_term(term_);
  }
  SYNOD_DCHECK(m.to() != id_ && m.to() != kNoNode) << "bad destination " << m.to();
  // §10.2.1: a leader may send while its own write is in flight; anything
  // else a node says may promise durable state (a vote, an ack, a term),
  // so it leaves only after the Ready's write. Pre-votes promise nothing.
  // One exception for the leader: once its commit index passed a
  // membership change, the commit index it announces waits until its own
  // (synced) hard state records it. Nodes act on a committed change (a
  // removed one may be shut down); if the leader crashed and forgot the
  // commit, the survivors could need the vote of a node that is gone.
  const bool leader_may_send_now =
      role_ == Role::kLeader &&
      !(log_.conf_change_committed() &&
        (t == raftpb::MSG_APP || t == raftpb::MSG_HEARTBEAT || t == raftpb::MSG_TIMEOUT_NOW));
  if (leader_may_send_now || t == raftpb::MSG_PRE_VOTE || t == raftpb::MSG_PRE_VOTE_RESP) {
    msgs_.push_back(std::move(m));
  } else {
    msgs_after_persist_.push_back(std::move(m));
  }
}

absl::Status RaftImpl::Step(Message m) {
  const MessageType t = m.type();
  if (m.term() == 0) {
    // A local message (or a forwarded proposal, read or transfer).
  } else if (m.term() > term_) {
    if (t == raftpb::MSG_VOTE || t == raftpb::MSG_PRE_VOTE) {
      // §4.2.3: a node that heard from a leader within the minimum election
      // timeout ignores vote requests, so a partitioned node rejoining with
      // a high term cannot depose a working leader. A transfer (§3.10)
      // overrides this.
      const bool in_lease =
          config_.check_quorum && lead_ != kNoNode && election_elapsed_ < config_.election_tick;
      if (!m.force() && in_lease) return absl::OkStatus();
    }
    if (t == raftpb::MSG_PRE_VOTE) {
      // Never change term on a pre-vote request (§9.6).
    } else if (t == raftpb::MSG_PRE_VOTE_RESP && !m.reject()) {
      // A granted pre-vote carries the future term; the term moves only
      // when a majority grants it.
    } else if (t == raftpb::MSG_APP || t == raftpb::MSG_HEARTBEAT || t == raftpb::MSG_SNAP) {
      BecomeFollower(m.term(), m.from());
    } else {
      BecomeFollower(m.term(), kNoNode);
    }
  } else if (m.term() < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (t == raftpb::MSG_HEARTBEAT || t == raftpb::MSG_APP)) {
      // A stale leader (partitioned, or its followers moved on through
      // pre-vote without telling it) learns the new term from this answer
      // and steps down.
      Message resp;
      resp.set_to(m.from());
      resp.set_type(raftpb::MSG_APP_RESP);
      Send(std::move(resp));
    } else if (t == raftpb::MSG_PRE_VOTE || t == raftpb::MSG_VOTE) {
      // Tell the (pre-)candidate our term so it catches up. Without this a
      // lagging voter that keeps campaigning with a stale membership (so
      // never contacting this candidate) and a candidate it ignores could
      // each wait for the other's vote forever.
      Message resp;
      resp.set_to(m.from());
      resp.set_type(t == raftpb::MSG_PRE_VOTE ? raftpb::MSG_PRE_VOTE_RESP : raftpb::MSG_VOTE_RESP);
      resp.set_term(term_);
      resp.set_reject(true);
      Send(std::move(resp));
    }
    // Other stale messages are dropped.
    return absl::OkStatus();
  }

  absl::Status s;
  if (t == raftpb::MSG_VOTE || t == raftpb::MSG_PRE_VOTE) {
    HandleVoteRequest(m);
  } else {
    s = StepLocalOrRole(m);
  }
  CheckInvariants();
  return s;
}

absl::Status RaftImpl::StepLocalOrRole(Message& m) {
  switch (role_) {
    case Role::kLeader:
      return StepLeader(m);
    case Role::kCandidate:
    case Role::kPreCandidate:
      return StepCandidate(m);
    case Role::kFollower:
      return StepFollower(m);
  }
  return absl::OkStatus();
}

absl::Status RaftImpl::StepLeader(Message& m) {
  switch (m.type()) {
    case raftpb::MSG_PROP:
      return HandlePropose(m);
    case raftpb::MSG_READ_INDEX:
      HandleReadIndexAsLeader(m);
      return absl::OkStatus();
    case raftpb::MSG_TRANSFER_LEADER:
      HandleTransferLeader(m);
      return absl::OkStatus();
    default:
      break;
  }
  Progress* pr = tracker_.Get(m.from());
  if (pr == nullptr || m.from() == id_) return absl::OkStatus();  // not (or no longer) a member
  switch (m.type()) {
    case raftpb::MSG_APP_RESP:
      HandleAppendResponse(m);
      break;
    case raftpb::MSG_HEARTBEAT_RESP:
      HandleHeartbeatResponse(m);
      break;
    case raftpb::MSG_SNAP_STATUS:
      HandleSnapshotStatus(m);
      break;
    case raftpb::MSG_UNREACHABLE:
      // The pipeline to an unreachable follower has probably lost
      // messages: fall back to probing.
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status RaftImpl::StepCandidate(Message& m) {
  const MessageType resp_type =
      role_ == Role::kPreCandidate ? raftpb::MSG_PRE_VOTE_RESP : raftpb::MSG_VOTE_RESP;
  switch (m.type()) {
    case raftpb::MSG_PROP:
      return absl::FailedPreconditionError("no leader: an election is in progress");
    case raftpb::MSG_APP:
      // A leader of this term exists (§3.4): give up the candidacy.
      BecomeFollower(m.term(), m.from());
      HandleAppendEntries(m);
      break;
    case raftpb::MSG_HEARTBEAT:
      BecomeFollower(m.term(), m.from());
      HandleHeartbeat(m);
      break;
    case raftpb::MSG_SNAP:
      BecomeFollower(m.term(), m.from());
      HandleSnapshot(m);
      break;
    default:
      if (m.type() == resp_type) Poll(m);
      // MSG_TIMEOUT_NOW, reads and transfers are dropped without a leader.
      break;
  }
  return absl::OkStatus();
}

absl::Status RaftImpl::StepFollower(Message& m) {
  switch (m.type()) {
    case raftpb::MSG_PROP:
      if (lead_ == kNoNode) return absl::FailedPreconditionError("no leader known");
      m.set_to(lead_);
      Send(std::move(m));
      break;
    case raftpb::MSG_APP:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleAppendEntries(m);
      break;
    case raftpb::MSG_HEARTBEAT:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleHeartbeat(m);
      break;
    case raftpb::MSG_SNAP:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleSnapshot(m);
      break;
    case raftpb::MSG_TRANSFER_LEADER:
      if (lead_ == kNoNode) return absl::FailedPreconditionError("no leader known");
      m.set_to(lead_);
      Send(std::move(m));
      break;
    case raftpb::MSG_TIMEOUT_NOW:
      // §3.10: the leader asks us to start an election at once, skipping
      // pre-vote and the lease check of the voters. It sent only once our
      // log matched its own, so its commit index (bounded by our match)
      // holds here.
      lead_ = m.from();
      log_.CommitTo(std::min(m.commit(), log_.LastIndex()));
      return Hup(/*transfer=*/true);
    case raftpb::MSG_READ_INDEX:
      if (lead_ == kNoNode) return absl::FailedPreconditionError("no leader known");
      m.set_to(lead_);
      Send(std::move(m));
      break;
    case raftpb::MSG_READ_INDEX_RESP:
      HandleReadIndexResponse(m);
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

void RaftImpl::OnPersisted(LogIndex index, Term term) {
  log_.StableTo(index, term);
  if (role_ != Role::kLeader) return;
  // The leader's own copy counts towards a majority only once durable:
  // otherwise a crash could lose an entry the others consider committed.
  if (Progress* self = tracker_.Get(id_); self != nullptr) {
    if (self->MaybeUpdate(log_.StableLastIndex()) && MaybeCommit()) {
      bcast_pending_ = true;
      ReleasePendingReadIndexMessages();
    }
  }
  CheckInvariants();
}

void RaftImpl::OnSnapshotPersisted(LogIndex index) {
  log_.StableSnapTo(index);
  log_.AppliedTo(index);
}

void RaftImpl::OnApplied(LogIndex index) {
  log_.AppliedTo(index);
  if (campaign_after_apply_ && role_ == Role::kFollower && !HasUnappliedConfChanges()) {
    campaign_after_apply_ = false;
    Hup(/*transfer=*/true).IgnoreError();
  }
  CheckInvariants();
}

void RaftImpl::FlushBroadcast() {
  if (bcast_pending_ && role_ == Role::kLeader) BroadcastAppend();
  bcast_pending_ = false;
  if (read_bcast_pending_ && role_ == Role::kLeader) BroadcastHeartbeat(read_bcast_context_);
  read_bcast_pending_ = false;
  read_bcast_context_.clear();
}

void RaftImpl::ReduceUncommittedSize(const std::vector<Entry>& entries) {
  if (role_ != Role::kLeader) return;
  uint64_t bytes = 0;
  for (const Entry& e : entries) bytes += EntryBytes(e);
  uncommitted_size_ = bytes > uncommitted_size_ ? 0 : uncommitted_size_ - bytes;
}

void RaftImpl::CheckInvariants() const {
#if SYNOD_DCHECK_IS_ON
  SYNOD_DCHECK(term_ >= checked_term_)
      << "term went back from " << checked_term_ << " to " << term_;
  SYNOD_DCHECK(term_ != checked_term_ || checked_vote_ == kNoNode || vote_ == checked_vote_)
      << "node " << id_ << " voted for " << checked_vote_ << " and then " << vote_ << " in term "
      << term_;
  SYNOD_DCHECK(log_.committed() >= checked_commit_)
      << "commit went back from " << checked_commit_ << " to " << log_.committed();
  SYNOD_DCHECK(log_.applied() <= log_.committed())
      << "applied " << log_.applied() << " past commit " << log_.committed();
  SYNOD_DCHECK(log_.committed() <= log_.LastIndex())
      << "commit " << log_.committed() << " past last index " << log_.LastIndex();
  if (role_ == Role::kLeader) {
    SYNOD_DCHECK(lead_ == id_ && vote_ == id_) << "a leader voted for itself in its term";
  }
  checked_term_ = term_;
  checked_vote_ = vote_;
  checked_commit_ = log_.committed();
#endif
}

}  // namespace synod::raft
