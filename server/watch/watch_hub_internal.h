// WatchHub's private parts, shared by the files that implement it
// (watch_hub.cc, watch_hub_dispatch.cc, watch_hub_catch_up.cc,
// watch_hub_queue.cc): a watch, a stream and its queue items, the path index
// entry and the list of streams to wake. Include it only from those files.
//
// Thread: these structs have no lock of their own; every field is guarded
// by WatchHub::mu_ (except Notifier, which has its own mutex so on_ready
// runs without the hub's lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "server/watch/watch_hub.h"
#include "synod/v1/watch.pb.h"

namespace synod::server {

// One entry of a stream's queue.
struct WatchHub::Item {
  enum class Type : uint8_t { kCreated, kEvent, kCanceled };
  Type type = Type::kEvent;
  uint64_t watch_id = 0;
  std::shared_ptr<const v1::WatchEvent> event;  // kEvent
  bool last = false;                            // kEvent of a one-shot: the watch ends with it
  v1::ErrorCode code = v1::OK;                  // kCanceled
  std::string reason;                           // kCanceled
};

// The stream's on_ready, callable without the hub's lock. Its own mutex
// serializes calls and lets CloseStream wait out a running one.
struct WatchHub::Notifier {
  explicit Notifier(absl::AnyInvocable<void()> fn) : on_ready(std::move(fn)) {}

  void Notify() {
    absl::MutexLock lock(&mu);
    if (on_ready) on_ready();
  }
  void Close() {
    absl::MutexLock lock(&mu);
    on_ready = nullptr;
  }

  absl::Mutex mu;
  absl::AnyInvocable<void()> on_ready ABSL_GUARDED_BY(mu);  // null once closed
};

struct WatchHub::Watch {
  Stream* stream = nullptr;
  uint64_t id = 0;      // the client's, unique on its stream
  uint64_t serial = 0;  // unique in the hub, never reused
  std::string path;
  v1::WatchKind kind = v1::WATCH_DATA;
  uint64_t session_id = 0;
  // Only events with revision > start_revision are delivered.
  uint64_t start_revision = 0;
  // Position in its index list (by_path_ or recursive_) while indexed.
  bool indexed = false;
  size_t slot = 0;

  // Catch-up. Invariant while catching_up: every matching event in
  // (start_revision, cursor] has been delivered, and every matching live
  // event after live_after is in `held` (a one-shot keeps only its first).
  // Catch-up ends when cursor >= live_after.
  bool catching_up = false;
  uint64_t cursor = 0;
  uint64_t live_after = 0;
  std::vector<std::shared_ptr<const v1::WatchEvent>> held;
  bool task_active = false;  // a catch-up task is posted or running
  bool parked = false;       // waiting in stream->parked for the queue to drain
};

struct WatchHub::Stream {
  StreamId id = 0;
  v1::Caller caller;  // whom its watches are for (see Visible)
  std::shared_ptr<Notifier> notifier;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Watch>> watches;
  std::deque<Item> queue;
  // Acks and events in `queue` (what an overflow drops). Cancel notices
  // are not counted: there is at most one per watch the stream created,
  // plus one per cancel of an unknown id, and the service stops reading
  // requests while the queue is long (Backlogged).
  size_t droppable = 0;
  size_t held = 0;  // live events held by this stream's catching-up watches

  // What the limit applies to.
  size_t Load() const { return droppable + held; }
  // on_ready was called and Poll has not yet found the queue empty: the
  // consumer is due to poll, no need to call it again.
  bool ready_signaled = false;
  // Over its limit in the current call: FinishOverflows cancels its watches.
  bool overflowed = false;
  // One-shot watches that fired while overflowed: their event was dropped,
  // so they are canceled with the others.
  std::vector<uint64_t> lost_one_shots;
  std::vector<Watch*> parked;  // catching-up watches waiting for the queue to drain
};

struct WatchHub::PathWatches {
  std::vector<Watch*> by_kind[kKinds];

  bool empty() const {
    for (const auto& list : by_kind) {
      if (!list.empty()) return false;
    }
    return true;
  }
};

class WatchHub::WakeList {
 public:
  void Add(std::shared_ptr<Notifier> n) { notifiers_.push_back(std::move(n)); }
  // Call without the hub's lock.
  void Run() {
    for (const auto& n : notifiers_) n->Notify();
    notifiers_.clear();
  }

 private:
  std::vector<std::shared_ptr<Notifier>> notifiers_;
};

}  // namespace synod::server
