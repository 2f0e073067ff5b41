// Linearizable reads without writing the log: ReadIndex (§6.4).
//
// 1. The leader must have committed an entry of its term, so that its
//    commit index is at least that of any earlier leader (requests that
//    arrive before wait in pending_read_index_msgs_).
// 2. It records its commit index as the read index.
// 3. It confirms it is still the leader with a heartbeat round acknowledged
//    by a majority (the heartbeats carry the request's context). Requests
//    that arrive between two Readies share one round: the heartbeats carry
//    the newest context and are sent with the Ready, after all of them
//    arrived; an acknowledgement of that context serves all of them.
// 4. The read may be served once the state machine has applied the read
//    index; the driver does that with the ReadState.
// A follower forwards the request to the leader and gets the index back
// (MSG_READ_INDEX_RESP); it then waits to apply that index itself.
#include <utility>

#include "raft/raft.h"

namespace synod::raft {

void RaftImpl::HandleReadIndexAsLeader(Message& m) {
  if (!CommittedEntryInCurrentTerm()) {
    pending_read_index_msgs_.push_back(std::move(m));
    return;
  }
  const LogIndex index = log_.committed();
  if (tracker_.voters().size() == 1 && tracker_.IsVoter(id_)) {
    // The only voter is its own majority.
    RespondToReadIndex(std::move(m), index);
    return;
  }
  std::string context = m.context();
  read_only_.Add(index, std::move(m));
  if (tracker_.IsVoter(id_)) read_only_.RecvAck(id_, context);
  // The heartbeats go out with the next Ready (FlushBroadcast), once for
  // every request that arrived before it.
  read_bcast_context_ = std::move(context);
  read_bcast_pending_ = true;
}

void RaftImpl::AckReadIndexRound(const Message& m) {
  const std::set<NodeId>* acks = read_only_.RecvAck(m.from(), m.context());
  if (acks == nullptr) return;
  size_t voters = 0;
  for (NodeId id : *acks) {
    if (tracker_.IsVoter(id)) ++voters;
  }
  if (voters < MajorityOf(tracker_.voters().size())) return;
  // A majority answered a heartbeat sent after every request up to this
  // one arrived: none of them could have been served by a newer leader.
  for (ReadIndexRequest& r : read_only_.Advance(m.context())) {
    RespondToReadIndex(std::move(r.request), r.index);
  }
}

void RaftImpl::RespondToReadIndex(Message req, LogIndex index) {
  if (req.from() == kNoNode || req.from() == id_) {
    read_states_.push_back(ReadState{index, req.context()});
    return;
  }
  Message resp;
  resp.set_to(req.from());
  resp.set_type(raftpb::MSG_READ_INDEX_RESP);
  resp.set_index(index);
  resp.set_context(std::move(*req.mutable_context()));
  Send(std::move(resp));
}

void RaftImpl::ReleasePendingReadIndexMessages() {
  if (pending_read_index_msgs_.empty() || !CommittedEntryInCurrentTerm()) return;
  std::vector<Message> msgs = std::move(pending_read_index_msgs_);
  pending_read_index_msgs_.clear();
  for (Message& m : msgs) HandleReadIndexAsLeader(m);
}

void RaftImpl::HandleReadIndexResponse(const Message& m) {
  read_states_.push_back(ReadState{m.index(), m.context()});
}

}  // namespace synod::raft
