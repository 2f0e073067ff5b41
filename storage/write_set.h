// WriteSet: the changes of one applied batch, collapsed per key, committed
// atomically together with the batch's applied index (TreeStore::Commit).
//
// Built by the apply thread (storage/overlay.h); a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/cluster_settings.h"
#include "storage/node.h"
#include "synod/v1/command.pb.h"
#include "synod/v1/watch.pb.h"

namespace synod::storage {

struct WriteSet {
  // The revision (Raft index) of the batch's last entry. Committing a set
  // whose applied_index is <= the store's is a no-op (replay after a crash).
  uint64_t applied_index = 0;
  // The tree digest after the batch.
  uint64_t digest = 0;

  // nullopt = delete. Keys are node paths.
  std::map<std::string, std::optional<Node>, std::less<>> nodes;
  // (path, seq) -> entry; nullopt = delete (pruned by the per-node bound).
  std::map<std::pair<std::string, uint64_t>, std::optional<HistoryEntry>> history;
  std::map<uint64_t, std::optional<Session>> sessions;
  // (delete revision, path) -> tombstone seq; nullopt = remove (see Grave).
  std::map<std::pair<uint64_t, std::string>, std::optional<uint64_t>> graves;
  // Secondary indexes, kept by the overlay from the node changes above:
  // (session, path) of ephemeral nodes, and paths of TTL/container nodes.
  // true = add, false = remove.
  std::map<std::pair<uint64_t, std::string>, bool> ephemerals;
  std::map<std::string, bool, std::less<>> expiry;
  // Watch events in apply order (all with revisions in this batch; a
  // revision's events are never split over two WriteSets).
  std::vector<v1::WatchEvent> events;
  // Set when the batch raised the history compaction revision.
  std::optional<uint64_t> compact_revision;
  // Set when the batch recorded new cluster settings.
  std::optional<ClusterSettings> settings;
  // Set when the batch changed the auth state (users, token key, switch):
  // the store writes its meta "auth" value only then.
  std::optional<std::shared_ptr<const v1::AuthState>> auth;
  // Set when the batch changed the quotas (their limits or usage).
  std::optional<std::shared_ptr<const v1::QuotaState>> quotas;

  bool empty_changes() const {
    return nodes.empty() && history.empty() && sessions.empty() && graves.empty() &&
           events.empty() && !compact_revision.has_value() && !settings.has_value() &&
           !auth.has_value() && !quotas.has_value();
  }
};

}  // namespace synod::storage
