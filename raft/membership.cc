// Membership changes.
//
// Synod uses single-server changes (§4.1), not joint consensus (§4.3):
// every change adds or removes one voter (ADD_LEARNER and PROMOTE_LEARNER
// only move a node into the voters later, §4.2.1). Any majority of the old
// voters and any majority of the new ones then share a server, so two
// leaders can never be elected in one term from the two configurations,
// with no intermediate joint configuration to manage. The ConfChange type
// names single-server operations, and the cluster grows or shrinks one
// replica at a time anyway.
//
// A change takes effect when the driver applies its committed entry and
// calls ApplyConfChange (not when it is appended, as in §4.1). That is safe
// because at most two adjacent configurations can be in use at once:
//   - one change at a time: the leader refuses a new change until the
//     previous one is applied on the leader (pending_conf_index_), and a new
//     leader first applies every entry of earlier terms;
//   - a node does not campaign while it has a committed membership change
//     it has not applied (RaftImpl::Hup), so it never campaigns with a
//     configuration two changes old;
//   - a leader only proposes a change after committing an entry of its own
//     term. This is the fix for the single-server bug the dissertation's
//     author reported after publication (raft-dev, 2015): without it, a
//     change appended by a deposed leader and one by its successor, each
//     uncommitted, could be decided by disjoint majorities.
// Voting itself does not depend on membership: a removed node still
// answers vote requests until it is shut down.
//
// Because nodes act on a committed change (a removed node may be shut
// down), knowing that a change is committed must survive crashes: the
// Ready that moves the commit index past a change is synced (must_sync),
// and the leader announces such a commit index only after that sync
// (RaftImpl::Send). Otherwise a leader that crashed and forgot the commit
// could need the vote of the node it removed, which is gone.
//
// Removing the leader (§4.2.2): it keeps leading, and counting itself in
// the old configuration, until the removal is committed and applied. It
// then still leads, no longer counted and refusing proposals, until a
// majority of the new voters has reported (in their answers) a commit
// index covering the removal: with membership taking effect on apply, the
// new configuration can elect a leader without the old one only once its
// members know the removal is committed (in a two-voter cluster the other
// voter would otherwise need the removed node's vote forever). Then it
// hands over with TimeoutNow to a caught-up voter, and steps down, or after
// an election timeout without that news. Being no longer a voter it never
// campaigns again; the driver may shut it down once it is not the leader.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "raft/raft.h"

namespace synod::raft {

absl::Status RaftImpl::ProposeConfChange(const ConfChange& change) {
  Message m;
  m.set_type(raftpb::MSG_PROP);
  m.set_from(id_);
  Entry* e = m.add_entries();
  e->set_type(raftpb::ENTRY_CONF_CHANGE);
  e->set_data(change.SerializeAsString());
  return Step(std::move(m));
}

absl::Status RaftImpl::CheckConfChangeEntry(const Entry& entry) const {
  ConfChange change;
  if (!change.ParseFromString(entry.data())) {
    return absl::InvalidArgumentError("membership change entry does not parse");
  }
  return CheckConfChange(change);
}

absl::Status RaftImpl::CheckConfChange(const ConfChange& change) const {
  if (pending_conf_index_ > log_.applied()) {
    return absl::FailedPreconditionError(absl::StrCat("a membership change is pending (index ",
                                                      pending_conf_index_, ", applied ",
                                                      log_.applied(), ")"));
  }
  if (!CommittedEntryInCurrentTerm()) {
    return absl::FailedPreconditionError(
        "the leader has not committed an entry of its term yet (§4.1)");
  }
  const NodeId id = change.node_id();
  if (id == kNoNode) return absl::InvalidArgumentError("membership change without a node id");
  switch (change.type()) {
    case ConfChange::ADD_LEARNER:
      if (tracker_.IsVoter(id)) {
        return absl::InvalidArgumentError(absl::StrCat("node ", id, " is a voter"));
      }
      if (tracker_.IsLearner(id)) {
        return absl::AlreadyExistsError(absl::StrCat("node ", id, " is already a learner"));
      }
      break;
    case ConfChange::PROMOTE_LEARNER:
      if (tracker_.IsVoter(id)) {
        return absl::AlreadyExistsError(absl::StrCat("node ", id, " is already a voter"));
      }
      if (!tracker_.IsLearner(id)) {
        return absl::NotFoundError(absl::StrCat("node ", id, " is not a learner"));
      }
      break;
    case ConfChange::ADD_VOTER:
      if (tracker_.IsVoter(id)) {
        return absl::AlreadyExistsError(absl::StrCat("node ", id, " is already a voter"));
      }
      break;
    case ConfChange::REMOVE_NODE:
      if (!tracker_.IsMember(id)) {
        return absl::NotFoundError(absl::StrCat("node ", id, " is not a member"));
      }
      if (tracker_.IsVoter(id) && tracker_.voters().size() == 1) {
        return absl::InvalidArgumentError("cannot remove the last voter");
      }
      break;
    default:
      return absl::InvalidArgumentError("unknown membership change type");
  }
  return absl::OkStatus();
}

ConfState RaftImpl::ApplyConfChange(const ConfChange& change) {
  // Every node applies the same committed changes in the same order, so a
  // change that makes no sense (validated away on the leader, but it could
  // come from a forwarded proposal racing another) is a no-op everywhere.
  const NodeId id = change.node_id();
  const LogIndex next = log_.LastIndex() + 1;
  bool added = false;
  if (id != kNoNode) {
    switch (change.type()) {
      case ConfChange::ADD_LEARNER:
        if (!tracker_.IsMember(id)) {
          tracker_.AddLearner(id, next);
          added = true;
        }
        break;
      case ConfChange::PROMOTE_LEARNER:
        if (tracker_.IsLearner(id)) tracker_.PromoteLearner(id);
        break;
      case ConfChange::ADD_VOTER:
        if (tracker_.IsLearner(id)) {
          tracker_.PromoteLearner(id);
        } else if (!tracker_.IsVoter(id)) {
          tracker_.AddVoter(id, next);
          added = true;
        }
        break;
      case ConfChange::REMOVE_NODE:
        if (!(tracker_.IsVoter(id) && tracker_.voters().size() == 1)) tracker_.Remove(id);
        break;
      default:
        break;
    }
  }
  if (added) {
    // A new member counts as active, or check-quorum could depose the
    // leader before the newcomer had a chance to answer.
    Progress* pr = tracker_.Get(id);
    pr->recent_active = true;
  }
  if (role_ == Role::kLeader) {
    if (!tracker_.IsVoter(id_)) {
      // The removal entry is among those being applied.
      removal_index_ = std::max(removal_index_, log_.applying());
      election_elapsed_ = 0;  // a full election timeout to spread the news
      if (MaybeCommit()) ReleasePendingReadIndexMessages();
      BroadcastAppend();
      MaybeStepDownAfterRemoval();
    } else {
      if (lead_transferee_ != kNoNode && !tracker_.IsVoter(lead_transferee_)) {
        AbortLeaderTransfer();
      }
      // The majority changed: the commit index may move; new members are
      // probed right away.
      if (MaybeCommit()) ReleasePendingReadIndexMessages();
      BroadcastAppend();
    }
  }
  CheckInvariants();
  return tracker_.GetConfState();
}

void RaftImpl::MaybeStepDownAfterRemoval() {
  if (role_ != Role::kLeader || removal_index_ == 0) return;
  size_t informed = 0;
  for (NodeId v : tracker_.voters()) {
    if (tracker_.Get(v)->commit_known >= removal_index_) ++informed;
  }
  if (informed >= MajorityOf(tracker_.voters().size())) StepDownAfterRemoval();
}

void RaftImpl::StepDownAfterRemoval() {
  // §4.2.2: the removed leader has done its part once the change is
  // committed. Hand over to the most caught-up remaining voter if it has
  // every entry (§3.10), so the cluster does not wait for a timeout.
  NodeId best = kNoNode;
  LogIndex best_match = 0;
  for (NodeId v : tracker_.voters()) {
    const Progress* pr = tracker_.Get(v);
    if (best == kNoNode || pr->match > best_match) {
      best = v;
      best_match = pr->match;
    }
  }
  if (best != kNoNode && best_match == log_.LastIndex()) SendTimeoutNow(best);
  BecomeFollower(term_, kNoNode);
}

}  // namespace synod::raft
