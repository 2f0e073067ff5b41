// Which watch sees which event: ZooKeeper's trigger rules, stated once.
//
// One-shot kinds (ZooKeeper's getData / exists / getChildren watches):
//   WATCH_DATA      NODE_DATA_CHANGED, NODE_DELETED of the path
//   WATCH_EXISTS    NODE_CREATED, NODE_DATA_CHANGED, NODE_DELETED of the path
//   WATCH_CHILDREN  NODE_CHILDREN_CHANGED, NODE_DELETED of the path
// Persistent kinds (ZooKeeper 3.6 addWatch):
//   WATCH_PERSISTENT            every event of the path, NODE_CHILDREN_CHANGED
//                               included (ZooKeeper registers it as both a
//                               data and a child watch)
//   WATCH_PERSISTENT_RECURSIVE  NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED
//                               of the path and of every node below it, and
//                               never NODE_CHILDREN_CHANGED: ZooKeeper keeps
//                               recursive watches in the data-watch table
//                               only, and child events are triggered on the
//                               child-watch table; a subtree watcher learns
//                               of a child through its NODE_CREATED /
//                               NODE_DELETED instead.
// WatchHub indexes watches by path so it never evaluates this per watch; its
// tests check the index against this function, and catch-up uses it to
// filter history.
#pragma once

#include <string_view>

#include "synod/v1/watch.pb.h"

namespace synod::server {

// True if a watch of `kind` on `watch_path` is triggered by `event`.
bool WatchMatches(v1::WatchKind kind, std::string_view watch_path, const v1::WatchEvent& event);

// True for the kinds that end when they fire (DATA, EXISTS, CHILDREN).
bool IsOneShot(v1::WatchKind kind);

}  // namespace synod::server
