// TreeStoreHistory: EventHistory over the replica's TreeStore event log.
#pragma once

#include <utility>

#include "server/watch/event_history.h"
#include "storage/tree_store.h"

namespace synod::server {

// Thread: any (TreeStore reads are thread-safe). `store` must outlive it.
class TreeStoreHistory final : public EventHistory {
 public:
  explicit TreeStoreHistory(storage::TreeStore* store) : store_(store) {}

  absl::StatusOr<EventPage> EventsAfter(uint64_t after_revision, size_t limit) override {
    absl::StatusOr<storage::EventsResult> result = store_->EventsAfter(after_revision, limit);
    if (!result.ok()) return result.status();
    EventPage page;
    page.code = result->code;
    page.revision = result->revision;
    page.events = std::move(result->events);
    page.has_more = result->has_more;
    return page;
  }

 private:
  storage::TreeStore* store_;
};

}  // namespace synod::server
