// RawNode: turns RaftImpl's state and outputs into numbered Readies.
#include "raft/raw_node.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "raft/raft.h"

namespace synod::raft {
namespace {

bool SameHardState(const HardState& a, const HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}

// Reports of this node's own driver about its transport, never sent by a
// peer: a peer that could step them would move the leader's view of
// another follower (back to probing, or out of snapshot state).
bool IsLocalOnly(MessageType t) {
  return t == raftpb::MSG_UNREACHABLE || t == raftpb::MSG_SNAP_STATUS;
}

// Answers to requests this node sent; they count towards quorums (votes,
// acknowledgements, read rounds) and so only from members.
bool IsResponse(MessageType t) {
  return t == raftpb::MSG_APP_RESP || t == raftpb::MSG_VOTE_RESP ||
         t == raftpb::MSG_PRE_VOTE_RESP || t == raftpb::MSG_HEARTBEAT_RESP ||
         t == raftpb::MSG_READ_INDEX_RESP;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RawNode>> RawNode::Create(const Config& config) {
  absl::StatusOr<std::unique_ptr<RaftImpl>> impl = RaftImpl::Create(config);
  if (!impl.ok()) return impl.status();
  std::unique_ptr<RawNode> node(new RawNode(std::move(*impl)));
  // The initial state is already persisted: only changes go into Readies.
  node->prev_soft_state_ = node->impl_->GetSoftState();
  node->prev_hard_state_ = node->impl_->GetHardState();
  return node;
}

RawNode::RawNode(std::unique_ptr<RaftImpl> impl) : impl_(std::move(impl)) {}

RawNode::~RawNode() = default;

void RawNode::Tick() { impl_->Tick(); }

absl::Status RawNode::Campaign() { return impl_->Hup(/*transfer=*/false); }

absl::Status RawNode::Propose(std::string data) {
  Message m;
  m.set_type(raftpb::MSG_PROP);
  m.set_from(impl_->id());
  m.add_entries()->set_data(std::move(data));
  return impl_->Step(std::move(m));
}

absl::Status RawNode::ProposeConfChange(const ConfChange& change) {
  return impl_->ProposeConfChange(change);
}

ConfState RawNode::ApplyConfChange(const ConfChange& change) {
  return impl_->ApplyConfChange(change);
}

absl::Status RawNode::Step(Message message) {
  if (absl::Status s = CheckPeerMessage(message); !s.ok()) return s;
  return impl_->Step(std::move(message));
}

absl::Status RawNode::CheckPeerMessage(const Message& m) const {
  const RaftImpl& r = *impl_;
  const MessageType t = m.type();
  if (t == raftpb::MSG_UNKNOWN || !raftpb::MessageType_IsValid(t)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown message type ", static_cast<int>(t), " from ", m.from()));
  }
  const std::string& name = raftpb::MessageType_Name(t);
  if (IsLocalOnly(t)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " from ", m.from(), ": only this node's driver reports it"));
  }
  if (m.to() != r.id()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " for node ", m.to(), " stepped into node ", r.id()));
  }
  // A forwarded request names its originator, which may be this node.
  if (m.from() == kNoNode || (m.from() == r.id() && !IsForwardedRequest(t))) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " claims to come from node ", m.from(), " (this is node ", r.id(), ")"));
  }
  // Every message carries its sender's term but forwarded requests, which
  // carry none (RaftImpl::Send). The term decides what is stale: a request
  // with one could move this node's term, a message without one would skip
  // the check (term 0 means local in RaftImpl::Step).
  if (IsForwardedRequest(t) != (m.term() == 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " from node ", m.from(), " with term ", m.term(),
        IsForwardedRequest(t) ? ": a forwarded request has none" : ": it must carry its term"));
  }
  if (IsResponse(t) && !r.tracker().IsMember(m.from())) {
    return absl::NotFoundError(absl::StrCat(name, " from node ", m.from(), ", not a member"));
  }
  if (t == raftpb::MSG_READ_INDEX_RESP && m.from() != r.lead()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " from node ", m.from(), ", not the leader (", r.lead(), ")"));
  }
  return absl::OkStatus();
}

void RawNode::ReadIndex(std::string context) {
  if (context.empty()) return;  // heartbeats use "" for "no read round"
  Message m;
  m.set_type(raftpb::MSG_READ_INDEX);
  m.set_from(impl_->id());
  m.set_context(std::move(context));
  // Without a leader the request is dropped; the driver times it out.
  impl_->Step(std::move(m)).IgnoreError();
}

void RawNode::TransferLeader(NodeId transferee) {
  Message m;
  m.set_type(raftpb::MSG_TRANSFER_LEADER);
  m.set_from(transferee);
  impl_->Step(std::move(m)).IgnoreError();
}

void RawNode::ReportUnreachable(NodeId id) {
  Message m;
  m.set_type(raftpb::MSG_UNREACHABLE);
  m.set_from(id);
  impl_->Step(std::move(m)).IgnoreError();
}

void RawNode::ReportSnapshot(NodeId id, bool success) {
  Message m;
  m.set_type(raftpb::MSG_SNAP_STATUS);
  m.set_from(id);
  m.set_reject(!success);
  impl_->Step(std::move(m)).IgnoreError();
}

bool RawNode::HasReady() const {
  if (outstanding_) return false;
  const RaftImpl& r = *impl_;
  if (!(r.GetSoftState() == prev_soft_state_)) return true;
  if (!SameHardState(r.GetHardState(), prev_hard_state_)) return true;
  const UnstableLog& u = r.log().unstable();
  if (u.HasPendingSnapshot() || u.HasPendingEntries()) return true;
  if (!impl_->msgs().empty() || !impl_->msgs_after_persist().empty()) return true;
  // A pending broadcast always comes with new entries or a new commit
  // index, both checked here.
  if (!impl_->read_states().empty()) return true;
  if (impl_->read_bcast_pending()) return true;
  return !committed_paused_ && r.log().HasNextCommittedEntries();
}

Ready RawNode::GetReady() {
  SYNOD_CHECK(!outstanding_) << "GetReady called again before Advance(ready "
                             << outstanding_->number << ")";
  impl_->FlushBroadcast();
  Ready rd;
  rd.number = ++ready_number_;
  Outstanding out;
  out.number = rd.number;

  const SoftState soft = impl_->GetSoftState();
  if (!(soft == prev_soft_state_)) {
    rd.soft_state = soft;
    prev_soft_state_ = soft;
  }
  const HardState hard = impl_->GetHardState();
  // A commit index covering a membership change must survive a crash (see
  // RaftLog::TakeConfChangeCommitted).
  const bool conf_committed = impl_->mutable_log().TakeConfChangeCommitted();
  if (!SameHardState(hard, prev_hard_state_)) {
    rd.must_sync = hard.term() != prev_hard_state_.term() ||
                   hard.vote() != prev_hard_state_.vote() || conf_committed;
    rd.hard_state = hard;
    prev_hard_state_ = hard;
  }

  UnstableLog& unstable = impl_->mutable_log().mutable_unstable();
  rd.snapshot = unstable.TakePendingSnapshot();
  if (rd.snapshot) out.snapshot_index = rd.snapshot->metadata().index();
  rd.entries = unstable.TakePendingEntries();
  if (!rd.entries.empty()) {
    out.last_entry_index = rd.entries.back().index();
    out.last_entry_term = rd.entries.back().term();
  }
  rd.must_sync = rd.must_sync || rd.snapshot.has_value() || !rd.entries.empty();

  if (!committed_paused_) {
    rd.committed_entries =
        impl_->log().NextCommittedEntries(impl_->config().max_committed_size_per_ready);
  }
  if (!rd.committed_entries.empty()) {
    out.last_committed_index = rd.committed_entries.back().index();
    impl_->mutable_log().AcceptApplying(out.last_committed_index);
    impl_->ReduceUncommittedSize(rd.committed_entries);
  }

  rd.messages = std::move(impl_->msgs());
  impl_->msgs().clear();
  rd.persisted_messages = std::move(impl_->msgs_after_persist());
  impl_->msgs_after_persist().clear();
  rd.read_states = std::move(impl_->read_states());
  impl_->read_states().clear();
  outstanding_ = out;
  return rd;
}

void RawNode::Advance(const Ready& ready) {
  SYNOD_CHECK(outstanding_ && outstanding_->number == ready.number)
      << "Advance(ready " << ready.number << ") does not match the outstanding Ready";
  const Outstanding out = *outstanding_;
  outstanding_.reset();
  if (out.snapshot_index != 0) impl_->OnSnapshotPersisted(out.snapshot_index);
  if (out.last_entry_index != 0) impl_->OnPersisted(out.last_entry_index, out.last_entry_term);
  if (out.last_committed_index != 0) impl_->OnApplied(out.last_committed_index);
}

raft::Status RawNode::GetStatus() const {
  const RaftImpl& r = *impl_;
  raft::Status st;
  st.id = r.id();
  st.hard_state = r.GetHardState();
  st.soft_state = r.GetSoftState();
  st.applied = r.log().applied();
  st.last_index = r.log().LastIndex();
  st.committed = r.log().committed();
  st.conf_state = r.tracker().GetConfState();
  st.lead_transferee = r.lead_transferee();
  st.election_elapsed = r.election_elapsed();
  st.randomized_election_timeout = r.randomized_election_timeout();
  if (r.role() == Role::kLeader) {
    for (const auto& [id, pr] : r.tracker().progress()) {
      ProgressStatus ps;
      ps.id = id;
      ps.match = pr.match;
      ps.next = pr.next;
      ps.learner = pr.learner;
      ps.recent_active = pr.recent_active;
      switch (pr.state) {
        case ProgressState::kProbe:
          ps.state = ProgressStatus::State::kProbe;
          break;
        case ProgressState::kReplicate:
          ps.state = ProgressStatus::State::kReplicate;
          break;
        case ProgressState::kSnapshot:
          ps.state = ProgressStatus::State::kSnapshot;
          break;
      }
      st.progress.push_back(ps);
    }
  }
  return st;
}

Term RawNode::term() const { return impl_->term(); }

SoftState RawNode::soft_state() const { return impl_->GetSoftState(); }

}  // namespace synod::raft
