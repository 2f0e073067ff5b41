// EventHistory: where WatchHub reads past events for a watch that starts at
// a past revision. The replica's implementation is TreeStoreHistory
// (tree_store_history.h); tests use a fake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "synod/v1/common.pb.h"
#include "synod/v1/watch.pb.h"

namespace synod::server {

// One page of the replicated event log.
struct EventPage {
  v1::ErrorCode code = v1::OK;         // OK, or COMPACTED: events after the asked revision are gone
  uint64_t revision = 0;               // applied index of the state the page was read from
  std::vector<v1::WatchEvent> events;  // revision order
  bool has_more = false;               // more events after the last one
};

// Thread: any (WatchHub calls it from its catch-up runner).
class EventHistory {
 public:
  virtual ~EventHistory() = default;
  // Events with revision > after_revision, in revision order: about `limit`
  // of them, and never a revision cut in two (WatchHub resumes after the
  // last event's revision). The Status is a storage failure.
  virtual absl::StatusOr<EventPage> EventsAfter(uint64_t after_revision, size_t limit) = 0;
};

}  // namespace synod::server
