// Leadership transfer (§3.10): the leader stops accepting proposals, brings
// the transferee's log up to date, then tells it to start an election at
// once (MSG_TIMEOUT_NOW). The transferee's vote requests carry `force` so
// voters that still hear from the leader grant them (§4.2.3 lease
// override). If the transfer has not finished within an election timeout
// the leader abandons it (TickHeartbeat).
//
// MSG_TRANSFER_LEADER names the transferee in its `from` field (it is a
// local message, or one forwarded by a follower to the leader).
#include <algorithm>

#include "raft/raft.h"

namespace synod::raft {

void RaftImpl::HandleTransferLeader(const Message& m) {
  const NodeId transferee = m.from();
  if (!tracker_.IsVoter(transferee)) return;  // learners and strangers cannot lead
  if (lead_transferee_ != kNoNode) {
    if (lead_transferee_ == transferee) return;  // already under way
    AbortLeaderTransfer();
  }
  if (transferee == id_) return;  // already the leader
  // The transfer must complete within one election timeout.
  election_elapsed_ = 0;
  lead_transferee_ = transferee;
  if (tracker_.Get(transferee)->match == log_.LastIndex()) {
    SendTimeoutNow(transferee);
  } else {
    SendAppend(transferee);
  }
}

void RaftImpl::SendTimeoutNow(NodeId to) {
  Message m;
  m.set_to(to);
  m.set_type(raftpb::MSG_TIMEOUT_NOW);
  // Like a heartbeat, it tells the transferee how far the log is committed
  // (as far as it holds it), so that it campaigns with the membership it
  // would have applied: after a leader removed itself, the transferee may
  // need the removal applied to win without the old leader's vote.
  const Progress* pr = tracker_.Get(to);
  m.set_commit(std::min(pr->match, log_.committed()));
  Send(std::move(m));
}

}  // namespace synod::raft
