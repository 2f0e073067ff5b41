// ZkConnection: ZooKeeper 3.6+'s watch requests: addWatch (persistent and
// persistent-recursive watches), checkWatches and removeWatches. As
// ZooKeeper 3.8's FinalRequestProcessor and DataTree answer them.
#include <vector>

#include "server/zk/zk_connection.h"

namespace synod::zk {
namespace {

// The kinds a Watcher.WatcherType covers: ZooKeeper keeps data and exists
// watches in one table (Data), child watches in another (Children), and a
// persistent watch in both. Empty for a type it does not know.
std::vector<v1::WatchKind> KindsOf(int32_t type) {
  std::vector<v1::WatchKind> kinds;
  if (type == kWatcherData || type == kWatcherAny) {
    kinds.push_back(v1::WATCH_DATA);
    kinds.push_back(v1::WATCH_EXISTS);
  }
  if (type == kWatcherChildren || type == kWatcherAny) kinds.push_back(v1::WATCH_CHILDREN);
  if (!kinds.empty()) {
    kinds.push_back(v1::WATCH_PERSISTENT);
    kinds.push_back(v1::WATCH_PERSISTENT_RECURSIVE);
  }
  return kinds;
}

}  // namespace

absl::Status ZkConnection::OnAddWatch(const RequestHeader& h, JuteReader& r, const SlotPtr& slot) {
  AddWatchRequest add;
  if (absl::Status s = Decode(r, &add); !s.ok()) return s;
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;
  const uint64_t revision = AppliedRevision();
  if (add.mode != kAddWatchPersistent && add.mode != kAddWatchPersistentRecursive) {
    // ZooKeeper's WatcherMode.fromZooDef throws; the request processor
    // answers that with MarshallingError.
    Reply(slot, h.xid, revision, kZMarshallingError);
    return absl::OkStatus();
  }
  const bool recursive = add.mode == kAddWatchPersistentRecursive;
  // One persistent watch per path and connection: a new mode replaces the
  // other (ZooKeeper sets the watcher's mode).
  RemoveWatch(recursive ? v1::WATCH_PERSISTENT : v1::WATCH_PERSISTENT_RECURSIVE, add.path);
  // ZooKeeper checks neither the path's existence nor its ACL here; the hub
  // delivers only events on nodes the connection may read.
  AddWatch(recursive ? v1::WATCH_PERSISTENT_RECURSIVE : v1::WATCH_PERSISTENT, add.path, revision);
  // Its reply is an ErrorResponse: one int, 0.
  JuteWriter w;
  w.WriteInt(kZOk);
  Reply(slot, h.xid, revision, kZOk, w.bytes());
  return absl::OkStatus();
}

absl::Status ZkConnection::OnCheckOrRemoveWatches(const RequestHeader& h, JuteReader& r,
                                                  const SlotPtr& slot) {
  WatchesRequest req;
  if (absl::Status s = Decode(r, &req); !s.ok()) return s;
  if (absl::Status s = r.ExpectEnd(); !s.ok()) return s;
  const std::vector<v1::WatchKind> kinds = KindsOf(req.type);
  if (kinds.empty()) {
    // WatcherType.fromInt throws: MarshallingError, as for addWatch.
    Reply(slot, h.xid, AppliedRevision(), kZMarshallingError);
    return absl::OkStatus();
  }
  bool found = false;
  for (v1::WatchKind kind : kinds) {
    found = (h.type == kOpRemoveWatches ? RemoveWatch(kind, req.path) : HasWatch(kind, req.path)) ||
            found;
  }
  Reply(slot, h.xid, AppliedRevision(), found ? kZOk : kZNoWatcher);
  return absl::OkStatus();
}

}  // namespace synod::zk
