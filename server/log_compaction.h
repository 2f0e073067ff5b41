// LogCompaction: when this replica writes a state snapshot file, and when
// the log is compacted up to one.
//
// Every `threshold` applied entries (more for a large state: the snapshot
// thread's MinEntriesBetween, so the log may grow with the state as
// dissertation §5.1.2 suggests) it asks the snapshot thread for a file of
// the applied state. The newest file waits as "pending"; when the next one is
// written, the pending one becomes the log snapshot (its descriptor holds
// the members as of its index, storage/snapshot_descriptor.h) and the log
// is compacted up to it. So the log keeps between one and two thresholds of
// entries, and a follower slightly behind catches up from the log instead
// of needing a snapshot.
//
// Promises: the log is never compacted past an existing snapshot file (the
// file is written and published before it becomes the log snapshot), and a
// file is pruned only once a newer file is the log snapshot or was
// installed (one the apply thread has yet to restore is kept).
//
// Thread: the raft thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "absl/status/status.h"
#include "raft/log_storage.h"
#include "raft/types.h"
#include "server/membership.h"

namespace synod::server {

class LogCompaction {
 public:
  struct Hooks {
    // Asks the snapshot thread for a file of the applied state; it answers
    // through OnCreated.
    std::function<void()> request;
    // Makes `snapshot` the log snapshot and compacts the log up to it
    // (LogStore::SaveSnapshot).
    std::function<absl::Status(const raft::Snapshot& snapshot)> compact;
    // Removes the snapshot files below `keep_from`.
    std::function<void(raft::LogIndex keep_from)> prune;
  };

  // `threshold` 0: never snapshot. `log` and `membership` outlive this.
  LogCompaction(uint64_t threshold, const raft::LogStorage* log, const Membership* membership,
                Hooks hooks);

  // The newest snapshot is the log snapshot at `index` (at startup).
  void Reset(raft::LogIndex index);
  // Asks for a snapshot once `applied` is at least max(threshold,
  // `min_between`) past the newest file and none is being written.
  void MaybeRequest(raft::LogIndex applied, uint64_t min_between);
  // The snapshot thread wrote the file at `index` (or failed: `ok` false).
  // Returns the index the log was compacted to, if it was.
  std::optional<raft::LogIndex> OnCreated(raft::LogIndex index, bool ok);
  // The snapshot at `index` from the leader was installed; the apply thread
  // has applied up to `applied`.
  void OnInstalled(raft::LogIndex index, raft::LogIndex applied);

  // The newest snapshot file (the log snapshot, or the pending one).
  raft::LogIndex newest() const { return newest_; }
  std::optional<raft::LogIndex> pending() const;
  bool requested() const { return requested_; }

 private:
  struct Pending {
    raft::LogIndex index = 0;
    raft::Term term = 0;
    Membership::Point conf;
  };

  const uint64_t threshold_;
  const raft::LogStorage* const log_;
  const Membership* const membership_;
  const Hooks hooks_;
  std::optional<Pending> pending_;
  bool requested_ = false;
  raft::LogIndex newest_ = 0;
};

}  // namespace synod::server
