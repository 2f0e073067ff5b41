#include "server/watch/watch_hub.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/watch/watch_match.h"

namespace synod::server {
namespace {

// This abseil does not alias absl::string_view to std::string_view; the hash
// maps look paths up by absl::string_view without building a std::string.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The path itself, then each ancestor up to "/", as views into `path`.
template <typename Fn>
void ForSelfAndAncestors(std::string_view path, Fn&& fn) {
  for (;;) {
    fn(path);
    if (path.size() <= 1) return;
    size_t slash = path.rfind('/');
    if (slash == std::string_view::npos) return;
    path = path.substr(0, slash == 0 ? 1 : slash);
  }
}

}  // namespace

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

WatchHub::WatchHub(WatchHubOptions options, EventHistory* history, TaskRunner* runner,
                   uint64_t applied_revision)
    : options_(std::move(options)),
      history_(history),
      runner_(runner),
      applied_(applied_revision) {}

WatchHub::~WatchHub() = default;

// ---------------------------------------------------------------- streams --

WatchHub::StreamId WatchHub::OpenStream(absl::AnyInvocable<void()> on_ready) {
  auto stream = std::make_unique<Stream>();
  stream->notifier = std::make_shared<Notifier>(std::move(on_ready));
  absl::MutexLock lock(&mu_);
  StreamId id = next_stream_id_++;
  stream->id = id;
  streams_.emplace(id, std::move(stream));
  return id;
}

void WatchHub::CloseStream(StreamId id) {
  std::shared_ptr<Notifier> notifier;
  {
    absl::MutexLock lock(&mu_);
    Stream* s = FindStream(id);
    if (s == nullptr) return;
    notifier = s->notifier;
    std::vector<Watch*> watches;
    watches.reserve(s->watches.size());
    for (auto& [watch_id, w] : s->watches) watches.push_back(w.get());
    for (Watch* w : watches) RemoveWatch(w);
    streams_.erase(id);
  }
  // Outside the hub's lock: a running on_ready may be polling.
  notifier->Close();
}

WatchHub::Stream* WatchHub::FindStream(StreamId id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void WatchHub::Create(StreamId stream, const v1::WatchCreateRequest& request) {
  WakeList wake;
  {
    absl::MutexLock lock(&mu_);
    Stream* s = FindStream(stream);
    if (s == nullptr) return;
    const uint64_t id = request.watch_id();
    if (id == 0) {
      EnqueueCancel(s, id, v1::INVALID_ARGUMENT, "watch_id 0 is reserved (cancel names all)",
                    &wake);
    } else if (!v1::WatchKind_IsValid(request.kind())) {
      EnqueueCancel(s, id, v1::INVALID_ARGUMENT,
                    absl::StrCat("unknown watch kind ", request.kind()), &wake);
    } else if (s->watches.contains(id)) {
      EnqueueCancel(s, id, v1::INVALID_ARGUMENT,
                    absl::StrCat("watch_id ", id, " is in use on this stream"), &wake);
    } else if (absl::Status valid = options_.validate_path ? options_.validate_path(request.path())
                                                           : absl::OkStatus();
               !valid.ok()) {
      EnqueueCancel(s, id, v1::INVALID_PATH, std::string(valid.message()), &wake);
    } else if (std::string bound = WatchBoundReached(s, request.session_id()); !bound.empty()) {
      ++refused_count_;
      EnqueueCancel(s, id, v1::TOO_MANY_WATCHES, std::move(bound), &wake);
    } else {
      // The ack goes first, so it precedes every event of the watch.
      Item ack;
      ack.type = Item::Type::kCreated;
      ack.watch_id = id;
      Enqueue(s, std::move(ack), &wake);

      auto owned = std::make_unique<Watch>();
      Watch* w = owned.get();
      w->stream = s;
      w->id = id;
      w->serial = next_serial_++;
      w->path = request.path();
      w->kind = request.kind();
      w->session_id = request.session_id();
      w->start_revision = request.start_revision() == 0 ? applied_ : request.start_revision();
      s->watches.emplace(id, std::move(owned));
      ++watch_count_;
      IndexAdd(w);
      if (w->session_id != 0) by_session_[w->session_id].insert(w);
      // A start_revision ahead of applied_ (the client read from a replica
      // further on) is served live: events up to it are filtered out.
      if (w->start_revision < applied_) StartCatchUp(w);
    }
    FinishOverflows(&wake);
  }
  wake.Run();
}

std::string WatchHub::WatchBoundReached(const Stream* s, uint64_t session_id) const {
  if (s->watches.size() >= options_.max_watches_per_stream) {
    return absl::StrCat("this stream holds ", s->watches.size(),
                        " watches, the most allowed (--max_watches_per_stream)");
  }
  if (session_id != 0) {
    auto it = by_session_.find(session_id);
    if (it != by_session_.end() && it->second.size() >= options_.max_watches_per_session) {
      return absl::StrCat("session ", session_id, " holds ", it->second.size(),
                          " watches, the most allowed (--max_watches_per_session)");
    }
  }
  if (watch_count_ >= options_.max_watches) {
    return absl::StrCat("this replica holds ", watch_count_,
                        " watches, the most allowed (--max_watches)");
  }
  return "";
}

void WatchHub::Cancel(StreamId stream, uint64_t watch_id) {
  WakeList wake;
  {
    absl::MutexLock lock(&mu_);
    Stream* s = FindStream(stream);
    if (s == nullptr) return;
    if (watch_id == 0) {
      std::vector<Watch*> watches;
      for (auto& [id, w] : s->watches) watches.push_back(w.get());
      std::sort(watches.begin(), watches.end(),
                [](const Watch* a, const Watch* b) { return a->id < b->id; });
      for (Watch* w : watches) CancelWatch(w, v1::OK, "canceled by the client", &wake);
    } else if (auto it = s->watches.find(watch_id); it != s->watches.end()) {
      CancelWatch(it->second.get(), v1::OK, "canceled by the client", &wake);
    } else {
      EnqueueCancel(s, watch_id, v1::OK, "no such watch (already fired or canceled)", &wake);
    }
  }
  wake.Run();
}

void WatchHub::CancelSession(uint64_t session_id) {
  if (session_id == 0) return;
  WakeList wake;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_session_.find(session_id);
    if (it == by_session_.end()) return;
    std::vector<Watch*> watches(it->second.begin(), it->second.end());
    // A stable order (the set's is not), so streams see their notices
    // in watch_id order.
    std::sort(watches.begin(), watches.end(), [](const Watch* a, const Watch* b) {
      return a->stream->id != b->stream->id ? a->stream->id < b->stream->id : a->id < b->id;
    });
    const std::string reason = absl::StrCat("session ", session_id, " closed or expired");
    for (Watch* w : watches) CancelWatch(w, v1::SESSION_EXPIRED, reason, &wake);
  }
  wake.Run();
}

bool WatchHub::Poll(StreamId stream, v1::WatchResponse* out) {
  std::vector<Item> taken;
  {
    absl::MutexLock lock(&mu_);
    Stream* s = FindStream(stream);
    if (s == nullptr) return false;
    if (s->queue.empty()) {
      s->ready_signaled = false;
      return false;
    }
    taken.push_back(std::move(s->queue.front()));
    s->queue.pop_front();
    if (taken.front().type != Item::Type::kCanceled) --s->droppable;
    const uint64_t watch_id = taken.front().watch_id;
    if (taken.front().type == Item::Type::kEvent && !taken.front().last) {
      while (!s->queue.empty() && taken.size() < options_.max_events_per_response) {
        Item& next = s->queue.front();
        if (next.type != Item::Type::kEvent || next.watch_id != watch_id) break;
        const bool last = next.last;
        taken.push_back(std::move(next));
        s->queue.pop_front();
        --s->droppable;
        if (last) break;
      }
    }
    if (!s->parked.empty() && s->Load() <= options_.max_stream_buffer / 4) {
      ResumeParked(s);
    }
  }
  // The copies into the response happen without the lock.
  out->Clear();
  const Item& first = taken.front();
  out->set_watch_id(first.watch_id);
  switch (first.type) {
    case Item::Type::kCreated:
      out->set_created(true);
      break;
    case Item::Type::kCanceled:
      out->set_canceled(true);
      out->set_cancel_code(first.code);
      out->set_cancel_reason(first.reason);
      break;
    case Item::Type::kEvent:
      for (const Item& item : taken) {
        *out->add_events() = *item.event;
        if (item.last) {
          out->set_canceled(true);
          out->set_cancel_code(v1::OK);
          out->set_cancel_reason("one-shot watch fired");
        }
      }
      break;
  }
  return true;
}

// ------------------------------------------------------------------ apply --

void WatchHub::OnApplied(uint64_t revision, absl::Span<const v1::WatchEvent> events) {
  WakeList wake;
  {
    absl::MutexLock lock(&mu_);
    if (revision <= applied_) return;
    applied_ = revision;
    for (const v1::WatchEvent& event : events) {
      // Shared by every watch it triggers; made only if one does.
      std::shared_ptr<const v1::WatchEvent> shared;
      auto share = [&]() -> const std::shared_ptr<const v1::WatchEvent>& {
        if (shared == nullptr) shared = std::make_shared<const v1::WatchEvent>(event);
        return shared;
      };
      const v1::EventType type = event.type();
      if (auto it = by_path_.find(event.path()); it != by_path_.end()) {
        auto& lists = it->second.by_kind;
        auto fire_one_shots = [&](v1::WatchKind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          if (!lists[kind].empty()) FireOneShots(&lists[kind], share(), &wake);
        };
        switch (type) {
          case v1::EVENT_NODE_CREATED:
            fire_one_shots(v1::WATCH_EXISTS);
            break;
          case v1::EVENT_NODE_DELETED:
            fire_one_shots(v1::WATCH_DATA);
            fire_one_shots(v1::WATCH_EXISTS);
            fire_one_shots(v1::WATCH_CHILDREN);
            break;
          case v1::EVENT_NODE_DATA_CHANGED:
            fire_one_shots(v1::WATCH_DATA);
            fire_one_shots(v1::WATCH_EXISTS);
            break;
          case v1::EVENT_NODE_CHILDREN_CHANGED:
            fire_one_shots(v1::WATCH_CHILDREN);
            break;
          default:
            break;
        }
        // Persistent watches see every event of their node.
        if (!lists[v1::WATCH_PERSISTENT].empty()) {
          FirePersistent(lists[v1::WATCH_PERSISTENT], share(), &wake);
        }
        if (it->second.empty()) by_path_.erase(it);
      }
      // Recursive watches on the node or an ancestor; never child events
      // (see watch_match.h).
      if (!recursive_.empty() && type != v1::EVENT_NODE_CHILDREN_CHANGED) {
        // ForSelfAndAncestors calls it synchronously, under this function's
        // lock; the analysis cannot follow mu_ into that template.
        auto fire_recursive = [&](std::string_view root) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          auto it = recursive_.find(AbslView(root));
          if (it != recursive_.end()) FirePersistent(it->second, share(), &wake);
        };
        ForSelfAndAncestors(event.path(), fire_recursive);
      }
    }
    FinishOverflows(&wake);
  }
  wake.Run();
}

void WatchHub::OnRestored(uint64_t revision) {
  absl::MutexLock lock(&mu_);
  if (revision <= applied_) return;
  const uint64_t before = applied_;
  applied_ = revision;
  for (auto& [stream_id, s] : streams_) {
    for (auto& [watch_id, owned] : s->watches) {
      Watch* w = owned.get();
      if (w->catching_up) {
        // Its held live events stop at `before`; the rest come from history.
        w->live_after = revision;
        continue;
      }
      w->catching_up = true;
      w->cursor = std::max(w->start_revision, before);
      w->live_after = revision;
      catching_up_.emplace(w->serial, w);
      PostCatchUp(w);
    }
  }
}

void WatchHub::FireOneShots(std::vector<Watch*>* list,
                            const std::shared_ptr<const v1::WatchEvent>& event, WakeList* wake) {
  std::vector<Watch*> keep;
  // Detached first: Deliver removes fired watches, which must not edit the
  // list being walked.
  std::vector<Watch*> walking;
  walking.swap(*list);
  for (Watch* w : walking) {
    ++match_visits_;
    const bool passes = event->revision() > w->start_revision;
    if (passes && !w->catching_up) {
      w->indexed = false;
      Deliver(w, event, wake);
      continue;
    }
    // Not yet due (start_revision ahead), or catching up: it stays armed; a
    // catching-up one-shot holds the event and fires when history is read.
    if (passes) Trigger(w, event, wake);
    w->slot = keep.size();
    keep.push_back(w);
  }
  list->swap(keep);
}

void WatchHub::FirePersistent(const std::vector<Watch*>& list,
                              const std::shared_ptr<const v1::WatchEvent>& event, WakeList* wake) {
  for (Watch* w : list) {
    ++match_visits_;
    if (event->revision() > w->start_revision) Trigger(w, event, wake);
  }
}

void WatchHub::Trigger(Watch* w, const std::shared_ptr<const v1::WatchEvent>& event,
                       WakeList* wake) {
  if (!w->catching_up) {
    Deliver(w, event, wake);
    return;
  }
  if (event->revision() <= w->live_after) return;  // history will bring it
  Stream* s = w->stream;
  if (s->overflowed) return;
  if (IsOneShot(w->kind) && !w->held.empty()) return;  // it fires on its first event only
  if (WouldOverflow(s)) {
    MarkOverflowed(s);
    return;
  }
  w->held.push_back(event);
  ++s->held;
}

void WatchHub::Deliver(Watch* w, const std::shared_ptr<const v1::WatchEvent>& event,
                       WakeList* wake) {
  Item item;
  item.type = Item::Type::kEvent;
  item.watch_id = w->id;
  item.event = event;
  item.last = IsOneShot(w->kind);
  Stream* s = w->stream;
  if (item.last) RemoveWatch(w);
  Enqueue(s, std::move(item), wake);
}

// ---------------------------------------------------------------- catch-up --

void WatchHub::StartCatchUp(Watch* w) {
  w->catching_up = true;
  w->cursor = w->start_revision;
  w->live_after = applied_;
  catching_up_.emplace(w->serial, w);
  PostCatchUp(w);
}

void WatchHub::PostCatchUp(Watch* w) {
  if (w->task_active || w->parked) return;
  w->task_active = true;
  runner_->Post([this, serial = w->serial] { RunCatchUp(serial); });
}

void WatchHub::ResumeParked(Stream* s) {
  std::vector<Watch*> parked;
  parked.swap(s->parked);
  for (Watch* w : parked) {
    w->parked = false;
    PostCatchUp(w);
  }
}

void WatchHub::RunCatchUp(uint64_t serial) {
  uint64_t cursor = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = catching_up_.find(serial);
    if (it == catching_up_.end()) return;  // canceled or overflowed meanwhile
    Watch* w = it->second;
    Stream* s = w->stream;
    if (s->Load() > options_.max_stream_buffer / 2) {
      // Let the consumer drain first; Poll posts us again.
      w->task_active = false;
      w->parked = true;
      s->parked.push_back(w);
      return;
    }
    cursor = w->cursor;
  }

  // The read runs without the lock: it may take a while, and live events
  // for this watch are held meanwhile.
  absl::StatusOr<EventPage> page = history_->EventsAfter(cursor, options_.history_page_size);

  WakeList wake;
  {
    absl::MutexLock lock(&mu_);
    auto it = catching_up_.find(serial);
    if (it == catching_up_.end()) return;
    Watch* w = it->second;
    w->task_active = false;
    if (!page.ok()) {
      CancelWatch(w, v1::INTERNAL,
                  absl::StrCat("reading the event history failed: ", page.status().ToString()),
                  &wake);
    } else if (page->code == v1::COMPACTED) {
      CancelWatch(w, v1::COMPACTED,
                  absl::StrCat("events after revision ", cursor,
                               " were compacted; re-read the state and watch from its revision"),
                  &wake);
    } else if (page->has_more && page->events.empty()) {
      CancelWatch(w, v1::INTERNAL, "the event history returned an empty page with more to come",
                  &wake);
    } else {
      const bool one_shot = IsOneShot(w->kind);
      const std::string path = w->path;
      const v1::WatchKind kind = w->kind;
      const uint64_t start = w->start_revision;
      const uint64_t last_revision = page->events.empty() ? 0 : page->events.back().revision();
      bool fired = false;
      for (v1::WatchEvent& event : page->events) {
        if (event.revision() <= start || !WatchMatches(kind, path, event)) continue;
        Deliver(w, std::make_shared<const v1::WatchEvent>(std::move(event)), &wake);
        if (one_shot) {
          fired = true;  // w is gone
          break;
        }
      }
      if (!fired) {
        // Pages hold whole revisions: everything up to the last event's
        // revision is covered, and the whole state the page was read from
        // when nothing more follows.
        uint64_t covered = last_revision;
        if (!page->has_more) covered = std::max(covered, page->revision);
        w->cursor = std::max(w->cursor, covered);
        if (w->cursor >= w->live_after) {
          // Switch to live: held events the history did not cover follow.
          catching_up_.erase(w->serial);
          w->catching_up = false;
          // The store may be ahead of OnApplied: live events up to the
          // cursor may still arrive and must not be delivered twice.
          w->start_revision = std::max(w->start_revision, w->cursor);
          w->stream->held -= w->held.size();
          std::vector<std::shared_ptr<const v1::WatchEvent>> held;
          held.swap(w->held);
          for (const auto& event : held) {
            if (event->revision() <= w->cursor) continue;
            Deliver(w, event, &wake);
            if (one_shot) break;  // w is gone
          }
        } else if (!page->has_more) {
          // The store is behind revisions the hub was told were applied:
          // going on would leave a gap.
          CancelWatch(w, v1::INTERNAL,
                      absl::StrCat("the event history ends at revision ", page->revision,
                                   " but revision ", w->live_after, " was applied"),
                      &wake);
        } else {
          PostCatchUp(w);
        }
      }
    }
    FinishOverflows(&wake);
  }
  wake.Run();
}

// ------------------------------------------------------------------ queues --

bool WatchHub::WouldOverflow(const Stream* s) const {
  return s->Load() >= options_.max_stream_buffer;
}

void WatchHub::MarkOverflowed(Stream* s) {
  if (s->overflowed) return;
  s->overflowed = true;
  overflowed_.push_back(s);
  ++overflow_count_;
}

void WatchHub::Enqueue(Stream* s, Item item, WakeList* wake) {
  if (!s->overflowed && WouldOverflow(s)) MarkOverflowed(s);
  if (s->overflowed) {
    if (item.last) s->lost_one_shots.push_back(item.watch_id);
    return;
  }
  s->queue.push_back(std::move(item));
  ++s->droppable;
  if (!s->ready_signaled) {
    s->ready_signaled = true;
    wake->Add(s->notifier);
  }
}

void WatchHub::EnqueueCancel(Stream* s, uint64_t watch_id, v1::ErrorCode code, std::string reason,
                             WakeList* wake) {
  Item item;
  item.type = Item::Type::kCanceled;
  item.watch_id = watch_id;
  item.code = code;
  item.reason = std::move(reason);
  // Not subject to the limit (see Stream::droppable): the client waits
  // for them.
  s->queue.push_back(std::move(item));
  if (!s->ready_signaled) {
    s->ready_signaled = true;
    wake->Add(s->notifier);
  }
}

void WatchHub::FinishOverflows(WakeList* wake) {
  for (Stream* s : overflowed_) {
    // Drop queued events and acks; keep cancel notices, which clients wait
    // for. A dropped one-shot event is a watch the client must hear about.
    std::vector<uint64_t> ids = std::move(s->lost_one_shots);
    s->lost_one_shots.clear();
    std::deque<Item> kept;
    for (Item& item : s->queue) {
      if (item.type == Item::Type::kCanceled) {
        kept.push_back(std::move(item));
      } else if (item.last) {
        ids.push_back(item.watch_id);
      }
    }
    s->queue.swap(kept);
    s->droppable = 0;
    std::vector<Watch*> watches;
    for (auto& [id, w] : s->watches) watches.push_back(w.get());
    for (Watch* w : watches) {
      ids.push_back(w->id);
      RemoveWatch(w);
    }
    std::sort(ids.begin(), ids.end());
    const std::string reason =
        absl::StrCat("the stream fell more than ", options_.max_stream_buffer,
                     " responses behind; create the watch again from the last revision received");
    for (uint64_t id : ids) EnqueueCancel(s, id, v1::WATCH_OVERFLOW, reason, wake);
    s->overflowed = false;
  }
  overflowed_.clear();
}

void WatchHub::CancelWatch(Watch* w, v1::ErrorCode code, std::string reason, WakeList* wake) {
  Stream* s = w->stream;
  const uint64_t id = w->id;
  RemoveWatch(w);
  EnqueueCancel(s, id, code, std::move(reason), wake);
}

// ------------------------------------------------------------------- index --

void WatchHub::IndexAdd(Watch* w) {
  std::vector<Watch*>& list = w->kind == v1::WATCH_PERSISTENT_RECURSIVE
                                  ? recursive_[w->path]
                                  : by_path_[w->path].by_kind[w->kind];
  w->slot = list.size();
  list.push_back(w);
  w->indexed = true;
}

void WatchHub::IndexRemove(Watch* w) {
  auto swap_remove = [w](std::vector<Watch*>& list) {
    Watch* moved = list.back();
    list[w->slot] = moved;
    moved->slot = w->slot;
    list.pop_back();
  };
  if (w->kind == v1::WATCH_PERSISTENT_RECURSIVE) {
    auto it = recursive_.find(w->path);
    swap_remove(it->second);
    if (it->second.empty()) recursive_.erase(it);
  } else {
    auto it = by_path_.find(w->path);
    swap_remove(it->second.by_kind[w->kind]);
    if (it->second.empty()) by_path_.erase(it);
  }
  w->indexed = false;
}

void WatchHub::RemoveWatch(Watch* w) {
  Stream* s = w->stream;
  if (w->indexed) IndexRemove(w);
  if (w->session_id != 0) {
    auto it = by_session_.find(w->session_id);
    it->second.erase(w);
    if (it->second.empty()) by_session_.erase(it);
  }
  if (w->catching_up) {
    catching_up_.erase(w->serial);
    s->held -= w->held.size();
  }
  if (w->parked) s->parked.erase(std::find(s->parked.begin(), s->parked.end(), w));
  --watch_count_;
  s->watches.erase(w->id);
}

bool WatchHub::Backlogged(StreamId stream) const {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  return it != streams_.end() && it->second->queue.size() >= options_.max_stream_buffer;
}

WatchHub::Stats WatchHub::GetStats() const {
  absl::MutexLock lock(&mu_);
  Stats stats;
  stats.streams = streams_.size();
  stats.watches = watch_count_;
  stats.catching_up = catching_up_.size();
  for (const auto& [id, s] : streams_) stats.queued += s->queue.size();
  stats.applied_revision = applied_;
  stats.overflows = overflow_count_;
  stats.refused = refused_count_;
  stats.match_visits = match_visits_;
  return stats;
}

}  // namespace synod::server
