// StateMachine: the apply thread. Applies committed entries in batches to
// the TreeStore (one unsynced WriteBatch per batch, with the applied index,
// through storage::Applier), completes the requests this replica proposed,
// runs reads once their index is applied, and tells a watch sink what each
// batch changed.
//
// Input comes from the raft thread through a bounded queue. Enqueue never
// blocks: the raft thread asks Full() before it takes committed entries
// from the core, and while the queue is full it takes none (so the queue
// holds at most max_queue_entries plus one Ready's committed entries) but
// keeps ticking and sending heartbeats; the leader's uncommitted-size bound
// then refuses new proposals instead of this replica buffering without
// bound. When the apply thread takes a full queue it runs the room callback.
//
// The writes this replica proposed complete on the apply thread as their
// batch is applied (finishing a unary reply only queues it on the call).
// Reads and other waiters do real work (a read of the tree, a response to
// build), and the apply thread is every replica's one serial stage: they
// go, in apply order, to a reply thread, after the batch's writes.
//
// A storage failure while applying is fatal: the state and the log would no
// longer agree, and answering from such a state could break linearizability.
//
// Thread: the apply thread owns the Applier and the TreeStore writes.
// Enqueue is called by the raft thread; WaitApplied and applied() by any.
// Invariant: applied() only grows, except when a snapshot from the leader
// replaces the state (then it jumps to the snapshot's index, which is above
// the old value).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "raft/types.h"
#include "server/metrics/server_metrics.h"
#include "server/replica_state.h"
#include "server/request_tracker.h"
#include "server/watch/task_runner.h"
#include "storage/apply.h"
#include "storage/snapshot_files.h"
#include "storage/tree_store.h"

namespace synod::server {

// One applied entry as observers see it.
struct AppliedEntry {
  uint64_t index = 0;
  // The decoded command; null for a Raft no-op, a membership change or an
  // undecodable entry.
  const v1::Command* command = nullptr;
  const storage::EntryOutcome* outcome = nullptr;
};

// Hook for watches and session liveness: told, on the apply thread, about
// every applied batch (after it is committed to the store) and every
// restore. Implementations must not block.
class ApplyObserver {
 public:
  virtual ~ApplyObserver() = default;
  // The entries of one batch, in index order; replays of entries the state
  // already held (after a restart) are left out.
  virtual void OnApplied(absl::Span<const AppliedEntry> entries) = 0;
  // The state was replaced by a snapshot at `index`; events between the
  // last applied index and it were not seen one by one.
  virtual void OnRestored(uint64_t index) = 0;
};

// Work handed from the raft thread to the apply thread, in log order.
struct ApplyWork {
  // Replace the state by the snapshot file at this index first.
  std::optional<uint64_t> restore_index;
  std::vector<raft::Entry> entries;
};

class StateMachine {
 public:
  struct Options {
    raft::NodeId self = raft::kNoNode;
    // Full() from this many queued entries on (a restore counts as one).
    size_t max_queue_entries = 16384;
    // Entries per storage batch.
    size_t max_batch_entries = 4096;
  };

  // Not owned: all must outlive this object.
  StateMachine(const Options& options, storage::TreeStore* store,
               const storage::ApplyLimits& limits, RequestTracker* tracker, ReplicaState* state,
               const storage::SnapshotFiles* snapshots);
  ~StateMachine();
  StateMachine(const StateMachine&) = delete;
  StateMachine& operator=(const StateMachine&) = delete;

  void set_observer(ApplyObserver* observer) { observer_ = observer; }
  // Counters and latencies the apply thread updates; null: none. Set
  // before Start; `metrics` outlives this object.
  void set_metrics(metrics::ServerMetrics* metrics) { metrics_ = metrics; }

  void Start();
  // Applies everything already queued, runs the reads it can, then joins.
  void Stop();

  // Raft thread. Never blocks (see the class comment).
  void Enqueue(ApplyWork work);
  // Raft thread. True when the queue holds max_queue_entries or more: take
  // no more committed entries until the room callback runs.
  bool Full();
  // Runs `on_room` on the apply thread once a queue that Full() found full
  // has been taken for applying. Any thread; null clears it (returns once
  // no call of the old one runs).
  void set_on_room(std::function<void()> on_room);

  // Runs `run` once the applied index is >= `index`: on the reply thread
  // after the batch that reaches it, or, if it already is, at once on the
  // calling thread (inline_ok) or soon on the reply thread (!inline_ok: the
  // raft thread must not spend its time on reads). Waits still pending at
  // Stop are dropped (their requests are completed by the tracker's
  // shutdown). A nonzero `key` names the wait for CancelWait.
  void WaitApplied(uint64_t index, std::function<void()> run, bool inline_ok = true,
                   uint64_t key = 0);
  // Drops the wait made with (index, key) if it has not run: its request
  // ended (deadline passed), and a wait for an index this replica may reach
  // much later, or never, must not be held until then.
  void CancelWait(uint64_t index, uint64_t key);
  // Waits not yet released.
  size_t pending_waits() const;

  uint64_t applied() const;

 private:
  void Loop();
  void ApplyEntries(std::vector<raft::Entry>* entries);
  void Restore(uint64_t index);
  void PublishApplied(uint64_t index);
  // Publishes `index` as applied and returns the waits it released.
  std::vector<std::function<void()>> SetApplied(uint64_t index);
  // Runs released waits on the reply thread, in order.
  void RunReady(std::vector<std::function<void()>> ready);

  const Options options_;
  storage::TreeStore* const store_;
  RequestTracker* const tracker_;
  ReplicaState* const state_;
  const storage::SnapshotFiles* const snapshots_;
  ApplyObserver* observer_ = nullptr;
  metrics::ServerMetrics* metrics_ = nullptr;
  storage::Applier applier_;  // apply thread only

  mutable absl::Mutex mu_;
  std::deque<ApplyWork> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_entries_ ABSL_GUARDED_BY(mu_) = 0;
  // Full() answered true since the apply thread last took the queue.
  bool room_wanted_ ABSL_GUARDED_BY(mu_) = false;
  // Held while on_room_ runs, so set_on_room(nullptr) waits it out.
  absl::Mutex room_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::function<void()> on_room_ ABSL_GUARDED_BY(room_mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  struct Wait {
    uint64_t key;  // 0: not cancellable
    std::function<void()> run;
  };
  std::multimap<uint64_t, Wait> waits_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
  // Completes requests and runs reads, in order (see the class comment).
  WorkerThread replies_;
};

}  // namespace synod::server
