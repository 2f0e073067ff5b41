// SnapshotInbox: writes the snapshot files that arrive in chunks (a
// leader's InstallSnapshot stream, dissertation §5.3) on a thread of its
// own, "synod-snap-in", so that gRPC callback threads never wait for the
// disk: every call queues one task and returns at once, and `done` runs on
// the inbox thread when the task is over.
//
// The queue is bounded (Options::max_queued tasks): when it is full a call
// is refused with ResourceExhausted and queues nothing; the receiver then
// fails the stream and the leader sends the snapshot again later. A stream
// keeps at most one task queued (it reads its next chunk only once the
// last one is written), so the bound is also one on concurrent streams'
// buffered bytes.
//
// A transfer's file is a temporary one (SnapshotFiles::TempPathFor) until
// Publish gives it the snapshot's name (synced first; a failed sync
// aborts). A failed write, or Abandon, removes it; one left by a crash is
// removed at the next start (SnapshotFiles::Init).
//
// Thread: calls from any thread; files are touched on the inbox thread
// only. The thread runs from construction to Stop (or destruction), and
// Stop runs what is queued first, so every accepted task's `done` runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "storage/snapshot_files.h"

namespace synod::storage {

class SnapshotInbox {
 public:
  struct Options {
    size_t max_queued = 64;
  };
  using Done = std::function<void(absl::Status)>;
  // One incoming file; opaque to callers.
  class Transfer;

  // `files` must outlive this.
  explicit SnapshotInbox(const SnapshotFiles* files) : SnapshotInbox(files, Options()) {}
  SnapshotInbox(const SnapshotFiles* files, Options options);
  ~SnapshotInbox();
  SnapshotInbox(const SnapshotInbox&) = delete;
  SnapshotInbox& operator=(const SnapshotInbox&) = delete;

  // Runs the queued tasks, then ends the thread. Later calls are refused
  // (Unavailable) and Abandon does nothing (Init removes what is left).
  void Stop();

  // A transfer of the snapshot file for `index`; no I/O (the first Write
  // creates its temporary file). `tag` makes the temporary name unique.
  std::shared_ptr<Transfer> NewTransfer(uint64_t index, const std::string& tag);

  // Appends `data` to the transfer's file. `done` gets OK, or the write's
  // error (the file is then removed and later writes fail too).
  // Errors (nothing queued, `done` not called): ResourceExhausted (queue
  // full), Unavailable (stopped).
  absl::Status Write(std::shared_ptr<Transfer> transfer, std::string data, Done done);
  // Syncs the file and gives it the snapshot's name (SnapshotFiles::
  // Publish). `done` gets OK once a crash can no longer lose it. Errors:
  // as Write.
  absl::Status Publish(std::shared_ptr<Transfer> transfer, Done done);
  // Removes the transfer's file unless it was published. Never refused by
  // a full queue: each transfer queues at most one, after its last task.
  void Abandon(std::shared_ptr<Transfer> transfer);

 private:
  absl::Status Enqueue(std::function<void()> task, bool bounded);
  void Loop();

  const SnapshotFiles* const files_;
  const Options options_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace synod::storage
