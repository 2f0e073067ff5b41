// Snapshotter: the snapshot thread. On request it writes a snapshot file of
// the current replicated state (TreeStore::WriteSnapshot reads one
// consistent view, so applies go on meanwhile), publishes it under its
// applied index, and reports the index back to the driver.
//
// It also says how often snapshots are worth writing: each one rewrites the
// whole state, so with a fixed entry threshold a large tree would spend most
// of its disk bandwidth on snapshots (and keep several of them on disk).
// MinEntriesBetween() grows with the state's size (the plain bytes of the
// newest snapshot, before compression) so that snapshot writing costs about
// kSnapshotBytesPerEntry bytes of state read and compressed per applied
// entry at most.
//
// Thread: owns one thread; Request and Stop from the raft thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/snapshot_files.h"
#include "storage/tree_store.h"

namespace synod::server {

class Snapshotter {
 public:
  // `done(index, ok)` is called on the snapshot thread after each attempt.
  Snapshotter(storage::TreeStore* store, const storage::SnapshotFiles* files,
              std::function<void(uint64_t index, bool ok)> done);
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // Bytes of state snapshotted per applied entry, at most, over time.
  static constexpr uint64_t kSnapshotBytesPerEntry = 1024;

  void Start();
  // Asks for a snapshot; ignored while one is being written.
  void Request();
  void Stop();

  // The fewest applied entries between two snapshots for the current state
  // size: the newest snapshot's plain bytes / kSnapshotBytesPerEntry (0
  // until this process wrote one: after a restart the first snapshot comes
  // after --snapshot_threshold entries). Any thread.
  uint64_t MinEntriesBetween() const;

 private:
  void Loop();

  storage::TreeStore* const store_;
  const storage::SnapshotFiles* const files_;
  const std::function<void(uint64_t, bool)> done_;
  absl::Mutex mu_;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  // Plain bytes of the newest snapshot this process wrote.
  std::atomic<uint64_t> last_bytes_{0};
};

}  // namespace synod::server
