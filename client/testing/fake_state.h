// FakeState: the replicated state behind FakeCluster's replicas, kept by the
// server's own code. Commands built as the server's services build them go
// through Propose, which plays a single leader's log: each gets the next
// index as its revision and the wall clock as the leader's time, then a
// storage::Applier applies and commits it to a storage::MemoryTreeStore, and
// a server::WatchHub gets the entry's events (and cancels the watches of a
// session that ended), as the server's ApplyFanout does. FakeState holds no
// tree, session or watch rule of its own.
//
// Promises: entries apply one at a time in index order; every read through
// store() sees whole entries; a WatchHub stream sees the events of every
// entry committed after it registered a watch.
//
// Thread-safety: any thread. Propose serializes the log under mu_ (the
// hub's on_ready callbacks run under it and must not call back into
// FakeState); TreeStore reads and hub calls are thread-safe by themselves.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/watch/task_runner.h"
#include "server/watch/tree_store_history.h"
#include "server/watch/watch_hub.h"
#include "storage/apply.h"
#include "storage/memory_tree_store.h"
#include "synod/v1/command.pb.h"

namespace synod::client::testing {

class FakeState {
 public:
  // Records the cluster settings first (a bootstrap SetSettingsCommand, as
  // a new cluster's first leader proposes): the defaults, except that
  // sessions may be as short as 1 ms so that client tests run fast.
  FakeState();
  ~FakeState();
  FakeState(const FakeState&) = delete;
  FakeState& operator=(const FakeState&) = delete;

  // Appends `command` to the log, applies and commits it. Returns its
  // result; `revision` (if not null) gets its index. A storage failure
  // comes back as an INTERNAL / DATA_LOSS result (the memory store has none
  // in practice).
  v1::CommandResult Propose(v1::Command command, uint64_t* revision = nullptr);

  // The applied index.
  uint64_t revision() const;
  // Waits until the applied index reaches `revision` or `deadline` passes;
  // true if reached.
  bool AwaitRevision(uint64_t revision, absl::Time deadline) const;

  // Tree writes that changed the tree (entries with events; a multi counts
  // once). An exactly-once duplicate, answered from the session table,
  // changes nothing and is not counted.
  int applied_writes() const;

  storage::TreeStore* store() { return &store_; }
  server::WatchHub* hub() { return hub_.get(); }

 private:
  mutable absl::Mutex mu_;
  storage::MemoryTreeStore store_;
  storage::Applier applier_ ABSL_GUARDED_BY(mu_);
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  int applied_writes_ ABSL_GUARDED_BY(mu_) = 0;
  server::TreeStoreHistory history_;
  // Catch-up reads of watches that start in the past. Stopped before the
  // hub goes (the hub must not see a task after it is destroyed).
  server::WorkerThread catch_up_;
  std::unique_ptr<server::WatchHub> hub_;
};

}  // namespace synod::client::testing
