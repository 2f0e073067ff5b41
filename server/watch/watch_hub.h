// WatchHub: every watch of one replica, matched against the events the apply
// thread produces, queued per stream for the Watch service to send.
//
// Thread: any. The apply thread calls OnApplied / OnRestored; gRPC threads
// open, close and poll streams and create and cancel watches; catch-up reads
// run on a TaskRunner. One mutex guards everything; no call holds it while it
// reads the event history or runs a stream's on_ready callback, and no
// consumer can make the apply thread wait for more than a few map and queue
// operations (a slow consumer only fills its own bounded buffer).
//
// Promises:
//  - Matching as ZooKeeper (watch_match.h). An event is matched through a
//    path index (exact path, plus the ancestors of the event's path for
//    recursive watches): its cost is the number of watches it triggers plus
//    the path depth, never the number of watches.
//  - Per watch: events in revision order, each once, all those with
//    revision > start_revision (start_revision 0 = from now). A watch whose
//    start_revision is below the applied revision first catches up from the
//    EventHistory while live events for it are held back, then switches to
//    live with no gap and no duplicate (live events at or below the last
//    revision history covered are dropped). Live watches of the same stream
//    keep flowing meanwhile, so events of different watches on one stream
//    are not ordered with each other.
//  - A one-shot watch fires once (its one event comes with canceled = true)
//    and is gone. With start_revision = the revision of the read that set it,
//    a matching change after the read fires it at once (ZooKeeper's
//    read-with-watch guarantee, even on a replica that moved on).
//  - Bounded memory per stream: when a stream's buffer (events and acks
//    queued, plus live events held for its catching-up watches) would exceed
//    Options::max_stream_buffer, its queued acks and events are dropped and
//    every watch of the stream is canceled with WATCH_OVERFLOW; the client
//    resumes each from the last revision it received. Catch-up reads pause
//    while a stream's buffer is over half full, so history alone does not
//    overflow a stream.
//  - Event protos are shared between all the watches they trigger, not
//    copied per watch.
//  - A watcher never sees an event on a node it may not read: each event
//    is checked against its stream's caller with the ACL it carries
//    (WatchEvent.acl, the node's ACL at that revision), live and in
//    catch-up, and the ACL itself is never handed out by Poll. Watches are
//    not refused at registration: one on a node the caller may not read
//    simply sees nothing of it (and a recursive watch sees only the
//    readable nodes of its subtree), which reveals nothing either way.
//
// Implementation, one concern per file: watch_hub.cc (streams, creating and
// canceling watches, bounds on their number), watch_hub_dispatch.cc (the
// path index and live events), watch_hub_catch_up.cc (history replay),
// watch_hub_queue.cc (per-stream queues, Poll, overflow);
// watch_hub_internal.h holds the private structs they share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/watch/event_history.h"
#include "server/watch/task_runner.h"
#include "synod/v1/common.pb.h"
#include "synod/v1/watch.pb.h"

namespace synod::server {

struct WatchHubOptions {
  // Events and created acks a stream may have queued, plus live events held
  // for its catching-up watches, before it overflows (cancel notices are
  // not counted; see WatchHub::Backlogged).
  size_t max_stream_buffer = 65536;
  // Events of one watch merged into one WatchResponse by Poll.
  size_t max_events_per_response = 256;
  // Events asked of the EventHistory per catch-up read.
  size_t history_page_size = 1024;
  // Watches one stream, one session (over all streams) and the whole hub
  // may hold; a Create beyond any of them is refused with a cancel notice
  // carrying TOO_MANY_WATCHES, and changes nothing else.
  size_t max_watches_per_stream = 100000;
  size_t max_watches_per_session = 100000;
  size_t max_watches = 1000000;
  // Path check for Create (the server passes storage::ValidatePath). A
  // watch on a path it refuses is canceled with INVALID_PATH. Null: none.
  std::function<absl::Status(std::string_view)> validate_path;
};

class WatchHub {
 public:
  using StreamId = uint64_t;

  struct Stats {
    size_t streams = 0;
    size_t watches = 0;      // registered (live or catching up)
    size_t catching_up = 0;  // of which reading history
    size_t queued = 0;       // items queued over all streams
    uint64_t applied_revision = 0;
    uint64_t overflows = 0;  // streams that overflowed, ever
    uint64_t refused = 0;    // creates refused with TOO_MANY_WATCHES, ever
    // Watches examined by OnApplied, ever: equals the number of triggers
    // (plus one-shot watches skipped for a future start_revision).
    uint64_t match_visits = 0;
  };

  // `history` and `runner` must outlive the hub, and `runner` must run no
  // task of this hub after the hub is destroyed (stop the runner first).
  // `applied_revision`: the revision the store has applied now.
  WatchHub(WatchHubOptions options, EventHistory* history, TaskRunner* runner,
           uint64_t applied_revision);
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // ---- Streams (gRPC threads). ----

  // A new stream with nothing queued. `on_ready` is called when the stream's
  // queue goes from empty (as last seen by Poll) to non-empty; the consumer
  // then calls Poll until it returns false. It runs on the apply thread, the
  // catch-up runner or inside Create/Cancel/CancelSession, without the hub's
  // lock: it must be quick, must not block and must not call CloseStream.
  // `caller`: who the stream's watches are for (auth.proto); an event on a
  // node whose ACL (WatchEvent.acl) does not let it read (PERM_READ) is
  // never delivered to them and does not fire a one-shot watch. Default:
  // the anonymous caller.
  StreamId OpenStream(absl::AnyInvocable<void()> on_ready, v1::Caller caller = v1::Caller());
  // Drops the stream, its watches and its queue. When it returns, on_ready
  // is neither running nor going to run. Unknown ids are ignored.
  void CloseStream(StreamId stream);

  // Registers a watch (the outcome is queued: a created ack, or a cancel
  // notice with INVALID_PATH, INVALID_ARGUMENT for a watch_id in use on the
  // stream or an unknown kind, TOO_MANY_WATCHES beyond a bound of
  // WatchHubOptions; later COMPACTED if history from
  // start_revision is gone, INTERNAL if reading it fails).
  void Create(StreamId stream, const v1::WatchCreateRequest& request);
  // Cancels one watch of the stream (watch_id 0: all of them) and queues a
  // cancel notice (code OK) for each; for an unknown id, one notice saying
  // so (watch_id 0 on a stream with no watches queues nothing).
  void Cancel(StreamId stream, uint64_t watch_id);
  // Cancels every watch created with this session id, on every stream
  // (session closed or expired): notices carry SESSION_EXPIRED.
  void CancelSession(uint64_t session_id);

  // Takes the next response of the stream: the events of one watch that are
  // next in its queue (at most max_events_per_response; a one-shot's event
  // with canceled = true), or a created ack, or a cancel notice. The header
  // is left for the caller. False when the queue is empty (or the stream is
  // unknown); on_ready is called again once something is queued.
  bool Poll(StreamId stream, v1::WatchResponse* out);

  // True while the stream's queue (cancel notices included) is at least
  // max_stream_buffer long: its consumer should stop taking requests until
  // Poll has drained it, so a client that sends creates or cancels without
  // reading the replies cannot grow the queue without bound.
  bool Backlogged(StreamId stream) const;

  // ---- Apply thread. ----

  // The entry at `revision` was applied and committed to the store (call it
  // after TreeStore::Commit, so catch-up reads see it), producing `events`
  // (all at `revision`; may be empty, e.g. for a Raft no-op: the hub still
  // learns the revision). Revisions must increase; a revision at or below
  // the last one is ignored (replay after a restart).
  void OnApplied(uint64_t revision, absl::Span<const v1::WatchEvent> events);
  // The store jumped to `revision` by installing a snapshot: the events in
  // between never passed through OnApplied, so every live watch goes back to
  // catching up from the event log (or is canceled COMPACTED).
  void OnRestored(uint64_t revision);

  Stats GetStats() const;

 private:
  struct Stream;
  struct Watch;
  struct Notifier;
  struct Item;
  // Watches on one path, by kind (v1::WatchKind values 0..4).
  struct PathWatches;
  static constexpr int kKinds = 5;

  // Collects the streams to wake and runs their on_ready after the lock is
  // released (on_ready may poll, which takes the lock).
  class WakeList;

  Stream* FindStream(StreamId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void IndexAdd(Watch* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void IndexRemove(Watch* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes `w` from every map and destroys it.
  void RemoveWatch(Watch* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Queues an event for `w`; a one-shot watch is removed and destroyed
  // (FireOneShots clears w->indexed first, as it rebuilds the index list
  // itself).
  void Deliver(Watch* w, const std::shared_ptr<const v1::WatchEvent>& event, WakeList* wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True if `w`'s caller may read the node `event` is about.
  bool Visible(const Watch* w, const v1::WatchEvent& event) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A live trigger of `w` by `event` from OnApplied: delivered, or held
  // while `w` catches up.
  void Trigger(Watch* w, const std::shared_ptr<const v1::WatchEvent>& event, WakeList* wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fires the one-shot watches of `list` that `event` passes, removing them.
  void FireOneShots(std::vector<Watch*>* list, const std::shared_ptr<const v1::WatchEvent>& event,
                    WakeList* wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FirePersistent(const std::vector<Watch*>& list,
                      const std::shared_ptr<const v1::WatchEvent>& event, WakeList* wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Appends an item unless the stream is (or thereby becomes) overflowed.
  void Enqueue(Stream* s, Item item, WakeList* wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why a new watch of `session_id` on `s` would exceed a bound; empty if
  // it would not.
  std::string WatchBoundReached(const Stream* s, uint64_t session_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends a cancel notice; never overflows.
  void EnqueueCancel(Stream* s, uint64_t watch_id, v1::ErrorCode code, std::string reason,
                     WakeList* wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WouldOverflow(const Stream* s) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkOverflowed(Stream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels the watches of every stream marked overflowed (deferred so that
  // no watch list is changed while OnApplied walks it).
  void FinishOverflows(WakeList* wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelWatch(Watch* w, v1::ErrorCode code, std::string reason, WakeList* wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Catch-up: `w` reads history after w->cursor until it covers
  // w->live_after, holding live events meanwhile.
  void StartCatchUp(Watch* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PostCatchUp(Watch* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunCatchUp(uint64_t serial);
  void ResumeParked(Stream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WatchHubOptions options_;
  EventHistory* const history_;
  TaskRunner* const runner_;

  mutable absl::Mutex mu_;
  uint64_t applied_ ABSL_GUARDED_BY(mu_);
  StreamId next_stream_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_serial_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<StreamId, std::unique_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  // Non-recursive watches by path.
  absl::flat_hash_map<std::string, PathWatches> by_path_ ABSL_GUARDED_BY(mu_);
  // Recursive watches by the root of their subtree.
  absl::flat_hash_map<std::string, std::vector<Watch*>> recursive_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<Watch*>> by_session_ ABSL_GUARDED_BY(mu_);
  // Watches catching up, by serial (what a posted catch-up task refers to,
  // so a task whose watch is gone, or was replaced, does nothing).
  absl::flat_hash_map<uint64_t, Watch*> catching_up_ ABSL_GUARDED_BY(mu_);
  // Streams marked overflowed in the current call, for FinishOverflows.
  std::vector<Stream*> overflowed_ ABSL_GUARDED_BY(mu_);
  size_t watch_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t overflow_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t match_visits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace synod::server
