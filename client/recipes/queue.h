// DistributedQueue: a FIFO of items shared by producers and consumers.
//
// Each item is a persistent-sequential node under the queue's directory
// (FIFO by sequence number). A consumer takes an item by deleting its node
// with the version it read: of several consumers racing for one item,
// exactly one delete succeeds, so no item is delivered twice. (With an
// exactly-once client a retried delete returns its first outcome, so a lost
// reply does not lose the item either.)
//
// Thread-safety: methods are reentrant and block the calling thread.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "synod/client.h"

namespace synod::recipes {

class DistributedQueue {
 public:
  DistributedQueue(Client* client, std::string path);
  // Appends an item; returns its node's path.
  absl::StatusOr<std::string> Offer(absl::string_view data, const CallOptions& call = {});
  // Removes and returns the head. Errors: NO_NODE when the queue is empty.
  absl::StatusOr<std::string> Poll(const CallOptions& call = {});
  // Blocks until an item can be taken. Errors: DEADLINE_EXCEEDED, CANCELLED
  // (`stop` notified; looked at between waits).
  absl::StatusOr<std::string> Take(absl::Time deadline = absl::InfiniteFuture(),
                                   const absl::Notification* stop = nullptr);

 private:
  // Poll that also reports the listing's revision (to watch from).
  absl::StatusOr<std::string> PollAt(absl::Time deadline, uint64_t* revision);

  Client* const client_;
  const std::string path_;
};

}  // namespace synod::recipes
