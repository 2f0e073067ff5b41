// Leader election (§3.4), pre-vote (§9.6) and voting.
#include <utility>

#include "base/check.h"
#include "raft/raft.h"

namespace synod::raft {

absl::Status RaftImpl::Hup(bool transfer) {
  if (role_ == Role::kLeader) return absl::OkStatus();
  if (!Promotable()) {
    return absl::FailedPreconditionError("this node is not a voter and cannot campaign");
  }
  // With membership taking effect on apply (membership.cc), a node whose
  // committed membership change is not applied yet would campaign with a
  // stale configuration. Wait until it is applied.
  if (HasUnappliedConfChanges()) {
    if (transfer) campaign_after_apply_ = true;
    return absl::FailedPreconditionError(
        "a committed membership change is not applied yet; cannot campaign");
  }
  Campaign(/*pre_vote=*/config_.pre_vote && !transfer, transfer);
  return absl::OkStatus();
}

bool RaftImpl::HasUnappliedConfChanges() const {
  if (log_.committed() <= log_.applied()) return false;
  absl::StatusOr<std::vector<Entry>> ents =
      log_.Slice(log_.applied() + 1, log_.committed() + 1, UINT64_MAX);
  // Entries below the first index were covered by a snapshot: the
  // snapshot's membership is already in effect.
  if (!ents.ok()) return false;
  for (const Entry& e : *ents) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) return true;
  }
  return false;
}

void RaftImpl::Campaign(bool pre_vote, bool transfer) {
  Term term;
  MessageType type;
  if (pre_vote) {
    BecomePreCandidate();
    type = raftpb::MSG_PRE_VOTE;
    // §9.6: ask with the term we would use, without adopting it.
    term = term_ + 1;
  } else {
    BecomeCandidate();
    type = raftpb::MSG_VOTE;
    term = term_;
  }
  tracker_.RecordVote(id_, true);
  if (tracker_.TallyVotes() == VoteResult::kWon) {
    // The only voter: the election is won without asking anyone.
    if (pre_vote) {
      Campaign(/*pre_vote=*/false, transfer);
    } else {
      BecomeLeader();
    }
    return;
  }
  const LogIndex last_index = log_.LastIndex();
  const Term last_term = log_.LastTerm();
  for (NodeId id : tracker_.voters()) {
    if (id == id_) continue;
    Message m;
    m.set_to(id);
    m.set_type(type);
    m.set_term(term);
    m.set_index(last_index);
    m.set_log_term(last_term);
    m.set_force(transfer);
    Send(std::move(m));
  }
}

void RaftImpl::HandleVoteRequest(const Message& m) {
  const bool pre = m.type() == raftpb::MSG_PRE_VOTE;
  // Figure 3.1 RequestVote: one vote per term (repeat it for the same
  // candidate, whose request may have been duplicated). A follower that
  // knows the leader of this term does not vote. A pre-vote for a later
  // term promises nothing, so it may be granted freely.
  const bool can_vote =
      vote_ == m.from() || (vote_ == kNoNode && lead_ == kNoNode) || (pre && m.term() > term_);
  // §3.6.1 election restriction: only a candidate whose log is at least as
  // up-to-date as ours.
  Message resp;
  resp.set_to(m.from());
  resp.set_type(pre ? raftpb::MSG_PRE_VOTE_RESP : raftpb::MSG_VOTE_RESP);
  if (can_vote && log_.IsUpToDate(m.index(), m.log_term())) {
    // The answer carries the request's term: for a pre-vote it is the
    // future term the pre-candidate will adopt if it wins.
    resp.set_term(m.term());
    if (!pre) {
      SYNOD_DCHECK(vote_ == kNoNode || vote_ == m.from())
          << "node " << id_ << " would vote twice in term " << term_;
      election_elapsed_ = 0;
      vote_ = m.from();
    }
  } else {
    resp.set_term(term_);
    resp.set_reject(true);
  }
  Send(std::move(resp));
}

void RaftImpl::Poll(const Message& m) {
  tracker_.RecordVote(m.from(), !m.reject());
  switch (tracker_.TallyVotes()) {
    case VoteResult::kWon:
      if (role_ == Role::kPreCandidate) {
        Campaign(/*pre_vote=*/false, /*transfer=*/false);
      } else {
        BecomeLeader();
      }
      break;
    case VoteResult::kLost:
      // A pre-candidate that lost returns to its old term; a candidate
      // stays in its new term as a follower.
      BecomeFollower(term_, kNoNode);
      break;
    case VoteResult::kPending:
      break;
  }
}

}  // namespace synod::raft
