#include "server/watch/watch_match.h"

#include "storage/path.h"

namespace synod::server {

bool IsOneShot(v1::WatchKind kind) {
  return kind == v1::WATCH_DATA || kind == v1::WATCH_EXISTS || kind == v1::WATCH_CHILDREN;
}

bool WatchMatches(v1::WatchKind kind, std::string_view watch_path, const v1::WatchEvent& event) {
  const v1::EventType type = event.type();
  if (kind == v1::WATCH_PERSISTENT_RECURSIVE) {
    return type != v1::EVENT_NODE_CHILDREN_CHANGED && storage::InSubtree(event.path(), watch_path);
  }
  if (event.path() != watch_path) return false;
  switch (kind) {
    case v1::WATCH_DATA:
      return type == v1::EVENT_NODE_DATA_CHANGED || type == v1::EVENT_NODE_DELETED;
    case v1::WATCH_EXISTS:
      return type == v1::EVENT_NODE_CREATED || type == v1::EVENT_NODE_DATA_CHANGED ||
             type == v1::EVENT_NODE_DELETED;
    case v1::WATCH_CHILDREN:
      return type == v1::EVENT_NODE_CHILDREN_CHANGED || type == v1::EVENT_NODE_DELETED;
    case v1::WATCH_PERSISTENT:
      return true;
    default:
      return false;
  }
}

}  // namespace synod::server
