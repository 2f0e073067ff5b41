// RaftMailbox: how the network side (peer service, peer transport) hands
// things to the thread that owns the Raft core, without blocking.
//
// Implemented by RaftDriver. Every method may be called from any thread and
// returns at once; when the driver's inbox is full, messages are dropped
// (Raft resends what matters, dissertation §3.5) and reports may be too.
#pragma once

#include <vector>

#include "raft/types.h"

namespace synod::server {

class RaftMailbox {
 public:
  virtual ~RaftMailbox() = default;
  // Raft messages received from peers.
  virtual void DeliverMessages(std::vector<raft::Message> messages) = 0;
  // The transport could not deliver to `peer` (queue full, stream broken).
  virtual void ReportUnreachable(raft::NodeId peer) = 0;
  // Outcome of streaming a snapshot to `peer`.
  virtual void ReportSnapshot(raft::NodeId peer, bool ok) = 0;
};

}  // namespace synod::server
