// Snapshotter: the snapshot thread. On request it writes a snapshot file of
// the current replicated state (TreeStore::WriteSnapshot reads one
// consistent view, so applies go on meanwhile), publishes it under its
// applied index, and reports the index back to the driver.
//
// Thread: owns one thread; Request and Stop from the raft thread.
#pragma once

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/snapshot_files.h"
#include "storage/tree_store.h"

namespace synod::server {

class Snapshotter {
 public:
  // `done(index, ok)` is called on the snapshot thread after each attempt.
  Snapshotter(storage::TreeStore* store, const SnapshotFiles* files,
              std::function<void(uint64_t index, bool ok)> done);
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  void Start();
  // Asks for a snapshot; ignored while one is being written.
  void Request();
  void Stop();

 private:
  void Loop();

  storage::TreeStore* const store_;
  const SnapshotFiles* const files_;
  const std::function<void(uint64_t, bool)> done_;
  absl::Mutex mu_;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace synod::server
