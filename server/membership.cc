#include "server/membership.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace synod::server {
namespace {

template <typename List>
bool Contains(const List& list, raft::NodeId id) {
  return std::find(list.begin(), list.end(), id) != list.end();
}

}  // namespace

Membership::Membership(const Options& options, Hooks hooks)
    : options_(options), hooks_(std::move(hooks)) {}

void Membership::Reset(Point start) {
  history_ = {std::move(start)};
  Install(history_.back());
}

const Membership::Point& Membership::At(raft::LogIndex index) const {
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (it->index <= index) return *it;
  }
  return history_.front();
}

bool Membership::IsMember(raft::NodeId id) const {
  const raft::ConfState& cs = current().conf_state;
  return Contains(cs.voters(), id) || Contains(cs.learners(), id);
}

void Membership::Compact(raft::LogIndex index) {
  while (history_.size() > 1 && history_[1].index <= index) history_.erase(history_.begin());
}

void Membership::ApplyEntry(raft::RawNode* node, const raft::Entry& entry) {
  raft::ConfChange cc;
  if (!cc.ParseFromString(entry.data())) {
    base::Log("entry %llu: undecodable membership change ignored",
              static_cast<unsigned long long>(entry.index()));
    return;
  }
  Point point = current();
  point.index = entry.index();
  point.conf_state = node->ApplyConfChange(cc);
  const raft::NodeId id = cc.node_id();
  switch (cc.type()) {
    case raft::ConfChange::ADD_LEARNER:
    case raft::ConfChange::ADD_VOTER: {
      v1::Member m;
      if (!cc.context().empty() && !m.ParseFromString(cc.context())) m.Clear();
      m.set_id(id);
      m.set_learner(cc.type() == raft::ConfChange::ADD_LEARNER);
      point.members[id] = m;
      break;
    }
    case raft::ConfChange::PROMOTE_LEARNER:
      point.members[id].set_learner(false);
      break;
    case raft::ConfChange::REMOVE_NODE:
      point.members.erase(id);
      break;
    default:
      break;
  }
  // Only members the core kept count (a change it ignored changes nothing).
  for (auto it = point.members.begin(); it != point.members.end();) {
    const raft::ConfState& cs = point.conf_state;
    const bool member = Contains(cs.voters(), it->first) || Contains(cs.learners(), it->first);
    it = member ? std::next(it) : point.members.erase(it);
  }
  base::Log("event=member_change index=%llu change=%s member=%llu voters=%d learners=%d%s",
            static_cast<unsigned long long>(entry.index()),
            raft::ConfChange::Type_Name(cc.type()).c_str(), static_cast<unsigned long long>(id),
            point.conf_state.voters_size(), point.conf_state.learners_size(),
            cc.type() == raft::ConfChange::REMOVE_NODE && id == options_.self
                ? " note=\"this member was removed from the cluster; it may be shut down\""
                : "");
  history_.push_back(std::move(point));
  Install(history_.back());
  if (pending_change_.has_value() && pending_change_->change.type() == cc.type() &&
      pending_change_->change.node_id() == cc.node_id()) {
    // After the install: the reply lists the new membership.
    hooks_.complete(pending_change_->request_id, Outcome());
    pending_change_.reset();
  }
}

void Membership::Install(const Point& point) {
  std::vector<v1::Member> members;
  std::map<raft::NodeId, std::string> peers;
  for (const auto& [id, m] : point.members) {
    members.push_back(m);
    if (id != options_.self && !m.peer_addr().empty()) peers[id] = m.peer_addr();
  }
  if (point.members.empty()) peers = options_.seed_peers;
  hooks_.install(std::move(members), std::move(peers));
}

v1::ErrorCode Membership::Check(const raft::RawNode& node, const raft::ConfChange& change,
                                std::string* why) const {
  const raft::Status st = node.GetStatus();
  const raft::ConfState& cs = st.conf_state;
  const raft::NodeId id = change.node_id();
  const bool voter = Contains(cs.voters(), id);
  const bool learner = Contains(cs.learners(), id);
  switch (change.type()) {
    case raft::ConfChange::ADD_LEARNER:
    case raft::ConfChange::ADD_VOTER: {
      if (voter || learner) {
        *why = absl::StrCat("member ", id, " exists");
        return v1::MEMBER_EXISTS;
      }
      v1::Member m;
      if (!m.ParseFromString(change.context()) || m.peer_addr().empty()) {
        *why = "the new member needs a peer address";
        return v1::INVALID_ARGUMENT;
      }
      for (const auto& [other, member] : current().members) {
        if (member.peer_addr() == m.peer_addr() ||
            (!m.client_addr().empty() && member.client_addr() == m.client_addr())) {
          *why = absl::StrCat("member ", other, " already uses that address");
          return v1::MEMBER_EXISTS;
        }
      }
      return v1::OK;
    }
    case raft::ConfChange::PROMOTE_LEARNER: {
      if (!learner) {
        *why = absl::StrCat("member ", id, " is not a learner");
        return voter ? v1::MEMBER_EXISTS : v1::MEMBER_NOT_FOUND;
      }
      for (const raft::ProgressStatus& p : st.progress) {
        if (p.id != id) continue;
        // Replicating (it acknowledged a matching log and is streaming)
        // and close to the end; a learner that never answered has match 0
        // and is probed, not replicating.
        if (p.state != raft::ProgressStatus::State::kReplicate || p.match == 0 ||
            p.match + options_.max_learner_lag < st.last_index || !p.recent_active) {
          *why = absl::StrCat("learner ", id, " has ", p.match, " of ", st.last_index,
                              " entries; promote it once it has caught up");
          return v1::LEARNER_NOT_READY;
        }
        return v1::OK;
      }
      *why = absl::StrCat("no replication progress for learner ", id);
      return v1::LEARNER_NOT_READY;
    }
    case raft::ConfChange::REMOVE_NODE: {
      if (!voter && !learner) {
        *why = absl::StrCat("member ", id, " does not exist");
        return v1::MEMBER_NOT_FOUND;
      }
      if (!voter) return v1::OK;
      // The voters that remain must still hold a live majority among
      // themselves, or the cluster stops committing.
      int remaining = 0;
      int live = 0;
      for (raft::NodeId v : cs.voters()) {
        if (v == id) continue;
        ++remaining;
        if (v == options_.self) {
          ++live;
          continue;
        }
        // Live: heard from within the last election timeout (check-quorum)
        // and its link is up.
        for (const raft::ProgressStatus& p : st.progress) {
          if (p.id == v && p.recent_active && hooks_.reachable(v)) ++live;
        }
      }
      if (remaining == 0 || live < remaining / 2 + 1) {
        *why = absl::StrCat("removing ", id, " leaves ", live, " live of ", remaining,
                            " voters: no majority");
        return v1::UNSAFE_MEMBERSHIP_CHANGE;
      }
      return v1::OK;
    }
    default:
      *why = "unknown membership change";
      return v1::INVALID_ARGUMENT;
  }
}

void Membership::Refuse(uint64_t id, v1::ErrorCode code, std::string why) {
  Outcome refused;
  refused.code = code;
  refused.message = std::move(why);
  hooks_.complete(id, refused);
}

void Membership::Request(raft::RawNode* node, raft::Role role, const MembershipRequest& request) {
  const uint64_t id = request.request_id;
  if (role != raft::Role::kLeader) {
    Refuse(id, v1::NOT_LEADER, "membership changes go to the leader");
    return;
  }
  if (request.kind == MembershipRequest::Kind::kTransfer) {
    if (!Contains(node->GetStatus().conf_state.voters(), request.transferee)) {
      Refuse(id, v1::MEMBER_NOT_FOUND,
             absl::StrCat("member ", request.transferee, " is not a voter"));
      return;
    }
    if (request.transferee == options_.self) {
      hooks_.complete(id, Outcome());  // already leading
      return;
    }
    if (pending_transfer_.has_value()) {
      Refuse(id, v1::MEMBERSHIP_CHANGE_IN_PROGRESS, "a leadership transfer is under way");
      return;
    }
    pending_transfer_ = request;
    transfer_age_ticks_ = 0;
    node->TransferLeader(request.transferee);
    return;
  }
  std::string why;
  if (v1::ErrorCode code = Check(*node, request.change, &why); code != v1::OK) {
    Refuse(id, code, std::move(why));
    return;
  }
  if (pending_change_.has_value() && hooks_.pending(pending_change_->request_id)) {
    Refuse(id, v1::MEMBERSHIP_CHANGE_IN_PROGRESS, "another membership change is under way");
    return;
  }
  absl::Status s = node->ProposeConfChange(request.change);
  if (!s.ok()) {
    const v1::ErrorCode code = s.code() == absl::StatusCode::kAlreadyExists ? v1::MEMBER_EXISTS
                               : s.code() == absl::StatusCode::kNotFound    ? v1::MEMBER_NOT_FOUND
                               : s.code() == absl::StatusCode::kInvalidArgument
                                   ? v1::INVALID_ARGUMENT
                                   : v1::MEMBERSHIP_CHANGE_IN_PROGRESS;
    Refuse(id, code, std::string(s.message()));
    return;
  }
  pending_change_ = request;
  hooks_.mark_proposed(id);
}

void Membership::OnLeader(raft::NodeId leader) {
  if (pending_transfer_.has_value() && leader == pending_transfer_->transferee) {
    hooks_.complete(pending_transfer_->request_id, Outcome());
    pending_transfer_.reset();
  }
}

void Membership::Tick(raft::RawNode* node, raft::Role role) {
  if (!pending_transfer_.has_value()) return;
  if (!hooks_.pending(pending_transfer_->request_id)) {
    pending_transfer_.reset();  // timed out
  } else if (role == raft::Role::kLeader && ++transfer_age_ticks_ >= options_.election_ticks) {
    // The core abandons a transfer that did not finish within an election
    // timeout (§3.10); while the request still waits, ask again.
    transfer_age_ticks_ = 0;
    node->TransferLeader(pending_transfer_->transferee);
  }
}

}  // namespace synod::server
