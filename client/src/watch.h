// WatchManager: every watch of one client, multiplexed on one Watch stream
// to the current replica, resumed elsewhere when that stream fails.
//
// Resumption is exact: each watch remembers the revision of the last event
// it delivered and how many events of that revision it delivered (one write
// can make several events); it is re-created from the revision before, and
// the events of that revision already delivered are dropped. Together with
// the server's promise (every event after start_revision, in order, or
// COMPACTED), a caller sees every event once, in revision order. A watch the
// server cancels for WATCH_OVERFLOW is re-created the same way.
//
// Thread-safety: Add / Cancel from any thread. Stream handling runs on the
// client's loop thread (gRPC reactions only post to it); mu_ guards the
// state. Event and done callbacks go to the callback executor, in order.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "client/src/callback_gate.h"
#include "client/src/core.h"
#include "client/src/executor.h"
#include "synod/client.h"
#include "synod/v1/watch.pb.h"

namespace synod::client {

class WatchStream;

class WatchManager {
 public:
  // Tasks the callback executor may have queued before a stream stops
  // reading (beyond it by at most one response's events).
  static constexpr size_t kMaxQueuedCallbacks = 1024;

  // Runs on the loop thread once: OK when the server acknowledged the
  // watch, else why it could not be created (then on_done never runs).
  using CreatedCallback = std::function<void(const absl::Status& status)>;

  WatchManager(ClientCore* core, SerialExecutor* callbacks);
  ~WatchManager();  // after Shutdown()

  uint64_t Add(std::string path, WatchKind kind, uint64_t start_revision, uint64_t session_id,
               WatchEventCallback on_event, WatchDoneCallback on_done, CreatedCallback created);
  // Once it returns no callback of the watch runs (from inside one of them:
  // none after it returns). A watch not yet acknowledged gets CANCELLED in
  // its created callback.
  void Cancel(uint64_t id);
  // Ends every watch (without calling done callbacks) and the stream; waits
  // for the stream to finish.
  void Shutdown();

 private:
  friend class WatchStream;

  struct Entry {
    std::string path;
    WatchKind kind;
    uint64_t session_id = 0;
    WatchEventCallback on_event;
    WatchDoneCallback on_done;
    CreatedCallback created;
    // Closed by Cancel / Shutdown: no user callback runs after that.
    std::shared_ptr<CallbackGate> gate = std::make_shared<CallbackGate>();
    bool sent = false;               // created on the current stream
    bool ever_acked = false;         // `created` has run
    bool from_now = false;           // asked with start_revision 0
    uint64_t fallback_revision = 0;  // resume point of a from_now watch never acked
    uint64_t last_revision = 0;      // events up to here are delivered (or skipped)
    uint32_t delivered_at_last = 0;  // events delivered with revision last_revision
    uint32_t skip = 0;               // of those, still to drop after a resume
  };

  // Loop thread.
  void EnsureStreamLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendCreateLocked(uint64_t id, Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reconnect();
  void OnWriteDone(WatchStream* stream);
  void OnResponse(WatchStream* stream, const v1::WatchResponse& resp);
  // One response (the message or one it carries in `batched`) under header
  // `h`. False: stop handling this message (the stream is not ours any
  // more, or the replica refused).
  bool HandleLocked(WatchStream* stream, const v1::WatchResponse& resp, const v1::ResponseHeader& h,
                    std::vector<std::function<void()>>* run_after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnStreamDone(WatchStream* stream);
  void DeliverLocked(Entry& e, const v1::WatchEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the entry and reports `status` (to created or on_done).
  void EndLocked(std::map<uint64_t, Entry>::iterator it, absl::Status status,
                 std::vector<std::function<void()>>* run_after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ClientCore* const core_;
  SerialExecutor* const callbacks_;

  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  WatchStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::flat_hash_set<WatchStream*> live_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::WatchRequest> outbox_ ABSL_GUARDED_BY(mu_);  // for stream_
  SerialExecutor::TimerId reconnect_timer_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration reconnect_backoff_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace synod::client
