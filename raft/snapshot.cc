// Snapshots (§5): the leader sends its storage's latest snapshot to a
// follower that needs compacted entries; the follower installs it through
// Ready::snapshot.
//
// Data flow: the driver creates snapshots and compacts its LogStorage. When
// a follower's next entry is compacted, the core emits a MSG_SNAP holding
// LogStorage::GetSnapshot() (data may be empty if the driver ships the
// state out of band) and waits. The driver sends it and reports the
// outcome with ReportSnapshot; the follower's core hands the snapshot to
// its driver in Ready::snapshot to persist and install.
#include <utility>

#include "base/check.h"
#include "raft/raft.h"

namespace synod::raft {

bool RaftImpl::SendSnapshot(NodeId to) {
  Progress* pr = tracker_.Get(to);
  // A follower not heard from lately may be down: don't ship a snapshot
  // into the void; probing will find it again.
  if (!pr->recent_active) return false;
  absl::StatusOr<Snapshot> snap = log_.GetSnapshot();
  if (!snap.ok()) {
    // Unavailable: the driver is producing one; try again later.
    return false;
  }
  SYNOD_CHECK(snap->metadata().index() != 0) << "need a snapshot to send but storage has none";
  Message m;
  m.set_to(to);
  m.set_type(raftpb::MSG_SNAP);
  pr->BecomeSnapshot(snap->metadata().index());
  *m.mutable_snapshot() = std::move(*snap);
  Send(std::move(m));
  return true;
}

void RaftImpl::HandleSnapshot(Message& m) {
  Message resp;
  resp.set_to(m.from());
  resp.set_type(raftpb::MSG_APP_RESP);
  if (Restore(std::move(*m.mutable_snapshot()))) {
    resp.set_index(log_.LastIndex());
  } else {
    resp.set_index(log_.committed());
  }
  resp.set_commit(log_.committed());
  Send(std::move(resp));
}

bool RaftImpl::Restore(Snapshot snapshot) {
  const LogIndex index = snapshot.metadata().index();
  const Term term = snapshot.metadata().term();
  if (index <= log_.committed()) return false;  // old news
  SYNOD_DCHECK(role_ == Role::kFollower) << "only a follower installs a snapshot";
  if (log_.MatchTerm(index, term)) {
    // We already hold the entry the snapshot ends with: by Log Matching we
    // hold everything before it too, so only the commit index moves.
    log_.CommitTo(index);
    return false;
  }
  tracker_.SetConfState(snapshot.metadata().conf_state(), index + 1);
  log_.Restore(std::move(snapshot));
  return true;
}

void RaftImpl::HandleSnapshotStatus(const Message& m) {
  Progress* pr = tracker_.Get(m.from());
  if (pr->state != ProgressState::kSnapshot) return;
  // On failure retry from scratch; on success the follower answers the
  // snapshot itself (MSG_APP_RESP) and we resume from there. Either way
  // wait for that answer or the next heartbeat before sending more.
  if (m.reject()) pr->pending_snapshot = 0;
  pr->BecomeProbe();
  pr->probe_sent = true;
}

}  // namespace synod::raft
