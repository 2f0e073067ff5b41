// ReadOnlyQueue: the leader's pending ReadIndex requests (§6.4), in arrival
// order, each waiting for a majority of voters to acknowledge a heartbeat
// that went out after the request arrived.
//
// Thread: owned by one RaftImpl, single-threaded.
// Invariant: queue_ holds the contexts of pending_ in arrival order, and
//   their read indexes never decrease along it (each is the commit index at
//   arrival).
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raft/types.h"

namespace synod::raft {

struct ReadIndexRequest {
  Message request;  // the MSG_READ_INDEX (from self or a follower)
  LogIndex index = 0;
  std::set<NodeId> acks;
};

class ReadOnlyQueue {
 public:
  // Queues a request that will be served at `index` (the leader's commit
  // index now). Ignored if a request with the same context is pending.
  void Add(LogIndex index, Message request);
  // Records that `id` acknowledged the heartbeat round for `context`;
  // returns the acknowledgers so far, or nullptr if the context is unknown.
  const std::set<NodeId>* RecvAck(NodeId id, const std::string& context);
  // Removes and returns every request up to and including `context` (all
  // confirmed by the same round, since a later round proves earlier ones).
  std::vector<ReadIndexRequest> Advance(const std::string& context);
  // The context of the newest pending request ("" if none): heartbeats
  // carry it so their acknowledgements confirm every pending request.
  std::string LastContext() const;
  size_t size() const { return queue_.size(); }
  void Reset();

 private:
  std::map<std::string, ReadIndexRequest> pending_;
  std::deque<std::string> queue_;
};

}  // namespace synod::raft
