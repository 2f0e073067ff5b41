// Log replication (§3.5), commitment (§3.6) and flow control (§10.2.1):
// the leader's side (proposals, MSG_APP, acknowledgements, heartbeats) and
// the follower's side (appending, answering).
#include <algorithm>
#include <utility>

#include "base/check.h"
#include "raft/raft.h"

namespace synod::raft {

bool RaftImpl::AppendEntries(std::vector<Entry>* entries) {
  const LogIndex last = log_.LastIndex();
  uint64_t bytes = 0;
  for (const Entry& e : *entries) bytes += EntryBytes(e);
  // An empty tail always accepts one batch, however large, so a single
  // oversized proposal cannot be starved.
  if (config_.max_uncommitted_entries_size > 0 && uncommitted_size_ > 0 &&
      uncommitted_size_ + bytes > config_.max_uncommitted_entries_size) {
    return false;
  }
  for (size_t i = 0; i < entries->size(); ++i) {
    (*entries)[i].set_term(term_);
    (*entries)[i].set_index(last + 1 + i);
  }
  // A leader never overwrites or deletes entries in its own log (Leader
  // Append-Only, §3.5 Figure 3.2).
  SYNOD_DCHECK(role_ == Role::kLeader) << "only a leader appends proposals";
  SYNOD_DCHECK(log_.LastTerm() <= term_) << "a leader's log has an entry of a later term";
  for (Entry& e : *entries) log_.AppendOne(std::move(e));
  uncommitted_size_ += bytes;
  // The leader's own progress moves when the driver reports the entries
  // durable (OnPersisted), not here.
  return true;
}

absl::Status RaftImpl::HandlePropose(Message& m) {
  if (m.entries().empty()) return absl::InvalidArgumentError("empty proposal");
  if (!tracker_.IsMember(id_)) {
    return absl::FailedPreconditionError("this leader was removed from the cluster");
  }
  if (lead_transferee_ != kNoNode) {
    return absl::FailedPreconditionError("leadership transfer in progress");
  }
  std::vector<Entry> entries;
  entries.reserve(m.entries_size());
  std::optional<size_t> conf_pos;
  for (Entry& e : *m.mutable_entries()) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
      if (conf_pos) return absl::FailedPreconditionError("one membership change at a time");
      if (absl::Status s = CheckConfChangeEntry(e); !s.ok()) return s;
      conf_pos = entries.size();
    }
    entries.push_back(std::move(e));
  }
  const LogIndex first = log_.LastIndex() + 1;
  if (!AppendEntries(&entries)) {
    return absl::ResourceExhaustedError("too many uncommitted entries; retry later");
  }
  if (conf_pos) pending_conf_index_ = first + *conf_pos;
  // All proposals until the next Ready share one MSG_APP per follower.
  bcast_pending_ = true;
  return absl::OkStatus();
}

bool RaftImpl::MaybeSendAppend(NodeId to, bool send_if_empty) {
  Progress* pr = tracker_.Get(to);
  if (pr == nullptr || to == id_ || pr->IsPaused()) return false;
  const LogIndex prev = pr->next - 1;
  absl::StatusOr<Term> prev_term = log_.TermAt(prev);
  absl::StatusOr<std::vector<Entry>> ents = absl::OutOfRangeError("unused");
  if (prev_term.ok()) ents = log_.EntriesFrom(pr->next, config_.max_size_per_msg);
  if (!prev_term.ok() || !ents.ok()) {
    // The follower needs entries this node has compacted (§5.3).
    return SendSnapshot(to);
  }
  if (ents->empty() && !send_if_empty) return false;
  Message m;
  m.set_to(to);
  m.set_type(raftpb::MSG_APP);
  m.set_index(prev);
  m.set_log_term(*prev_term);
  m.set_commit(log_.committed());
  pr->commit_sent = log_.committed();
  if (!ents->empty()) {
    uint64_t bytes = 0;
    for (const Entry& e : *ents) bytes += EntryBytes(e);
    const LogIndex last = ents->back().index();
    m.mutable_entries()->Reserve(static_cast<int>(ents->size()));
    for (Entry& e : *ents) *m.add_entries() = std::move(e);
    if (pr->state == ProgressState::kReplicate) {
      // Pipelining: assume the follower will accept and go on from there.
      pr->OptimisticUpdate(last);
      pr->inflights.Add(last, bytes);
    }
  }
  // A probe waits for its answer (or the next heartbeat) before the next.
  if (pr->state == ProgressState::kProbe) pr->probe_sent = true;
  Send(std::move(m));
  return true;
}

void RaftImpl::BroadcastAppend() {
  // New entries go to everyone; an empty MSG_APP only to followers that
  // have not been sent the current commit index yet.
  for (auto& [id, pr] : tracker_.progress()) {
    if (id != id_) MaybeSendAppend(id, /*send_if_empty=*/pr.commit_sent < log_.committed());
  }
}

void RaftImpl::BroadcastHeartbeat(const std::string& context) {
  for (auto& [id, pr] : tracker_.progress()) {
    if (id != id_) SendHeartbeat(id, context);
  }
}

void RaftImpl::SendHeartbeat(NodeId to, const std::string& context) {
  const Progress* pr = tracker_.Get(to);
  Message m;
  m.set_to(to);
  m.set_type(raftpb::MSG_HEARTBEAT);
  // The follower may not have every committed entry; it must not commit
  // past what the leader knows it holds.
  m.set_commit(std::min(pr->match, log_.committed()));
  m.set_context(context);
  Send(std::move(m));
}

bool RaftImpl::MaybeCommit() {
  const LogIndex majority = tracker_.Committed();
  if (config_.testing_unsafe_commit_prior_term) {
    // TEST ONLY: the Figure 3.7 bug, counting replicas of old-term entries.
    if (majority <= log_.committed()) return false;
    log_.CommitTo(majority);
    return true;
  }
  // §3.6.2: only an entry of the current term is committed by counting
  // replicas; earlier ones are committed with it (Log Matching).
  return log_.MaybeCommit(majority, term_);
}

bool RaftImpl::CommittedEntryInCurrentTerm() const {
  return log_.ZeroTermOnError(log_.committed()) == term_;
}

void RaftImpl::HandleAppendEntries(Message& m) {
  SYNOD_DCHECK(role_ != Role::kLeader) << "a leader never takes entries from another node";
  Message resp;
  resp.set_to(m.from());
  resp.set_type(raftpb::MSG_APP_RESP);
  if (m.index() < log_.committed()) {
    // Everything up to our commit index is already known to match.
    resp.set_index(log_.committed());
    resp.set_commit(log_.committed());
    Send(std::move(resp));
    return;
  }
  std::vector<Entry> entries;
  entries.reserve(m.entries_size());
  for (Entry& e : *m.mutable_entries()) entries.push_back(std::move(e));
  if (std::optional<LogIndex> last =
          log_.MaybeAppend(m.index(), m.log_term(), m.commit(), &entries)) {
    resp.set_index(*last);
    resp.set_commit(log_.committed());
    Send(std::move(resp));
    return;
  }
  // §3.5 fast back-off: instead of one index at a time, tell the leader
  // the last index whose term is not above the term it expected; the leader
  // can skip every entry of a conflicting term at once.
  const LogIndex hint = std::min(m.index(), log_.LastIndex());
  const auto [hint_index, hint_term] = log_.FindConflictByTerm(hint, m.log_term());
  resp.set_index(m.index());
  resp.set_reject(true);
  resp.set_reject_hint(hint_index);
  resp.set_log_term(hint_term);
  resp.set_commit(log_.committed());
  Send(std::move(resp));
}

void RaftImpl::HandleHeartbeat(const Message& m) {
  log_.CommitTo(m.commit());
  Message resp;
  resp.set_to(m.from());
  resp.set_type(raftpb::MSG_HEARTBEAT_RESP);
  resp.set_context(m.context());
  resp.set_commit(log_.committed());
  Send(std::move(resp));
}

void RaftImpl::HandleAppendResponse(const Message& m) {
  Progress* pr = tracker_.Get(m.from());
  pr->recent_active = true;
  pr->commit_known = std::max(pr->commit_known, m.commit());
  MaybeStepDownAfterRemoval();
  if (role_ != Role::kLeader) return;
  if (m.reject()) {
    LogIndex next_probe = m.reject_hint();
    if (m.log_term() > 0) {
      // The follower's entry at reject_hint has term log_term: any of our
      // entries with a higher term cannot match there, skip them too.
      next_probe = log_.FindConflictByTerm(m.reject_hint(), m.log_term()).first;
    }
    if (pr->MaybeDecrTo(m.index(), next_probe)) {
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      SendAppend(m.from());
    }
    return;
  }
  const bool was_paused = pr->IsPaused();
  if (!pr->MaybeUpdate(m.index()) &&
      !(pr->match == m.index() && pr->state == ProgressState::kProbe)) {
    return;  // stale
  }
  switch (pr->state) {
    case ProgressState::kProbe:
      pr->BecomeReplicate();
      break;
    case ProgressState::kSnapshot:
      // The follower installed the snapshot (or caught up otherwise) and
      // the log continues right after its match: stream again.
      if (pr->match + 1 >= log_.FirstIndex()) {
        pr->BecomeProbe();
        pr->BecomeReplicate();
      }
      break;
    case ProgressState::kReplicate:
      pr->inflights.FreeLE(m.index());
      break;
  }
  if (MaybeCommit()) {
    bcast_pending_ = true;
    ReleasePendingReadIndexMessages();
  } else if (was_paused && pr->commit_sent < log_.committed()) {
    // The follower was waiting (probe): tell it the commit index even if
    // there is nothing new to send.
    SendAppend(m.from());
  }
  // Fill the window.
  while (MaybeSendAppend(m.from(), /*send_if_empty=*/false)) {
  }
  if (m.from() == lead_transferee_ && pr->match == log_.LastIndex()) {
    // §3.10: the transferee has caught up.
    SendTimeoutNow(m.from());
  }
}

void RaftImpl::HandleHeartbeatResponse(const Message& m) {
  Progress* pr = tracker_.Get(m.from());
  pr->recent_active = true;
  pr->commit_known = std::max(pr->commit_known, m.commit());
  MaybeStepDownAfterRemoval();
  if (role_ != Role::kLeader) return;
  pr->probe_sent = false;
  // A window clogged by lost messages gets one slot back per heartbeat.
  if (pr->state == ProgressState::kReplicate && pr->inflights.Full()) {
    pr->inflights.FreeFirstOne();
  }
  if (pr->match < log_.LastIndex()) SendAppend(m.from());
  if (!m.context().empty()) AckReadIndexRound(m);
}

}  // namespace synod::raft
