// WatchHub: each stream's queue of created acks, events and cancel notices,
// how Poll drains it into responses, and its bound: a stream whose acks,
// events and held events would exceed max_stream_buffer drops them and has
// every watch canceled with WATCH_OVERFLOW (cancel notices are never
// dropped; Backlogged tells the service to stop reading requests instead).
//
// Thread: Poll and Backlogged run on gRPC threads; the rest run under
// WatchHub::mu_ from whichever thread holds it (apply, catch-up, gRPC).
#include <algorithm>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_hub_internal.h"

namespace synod::server {

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
        v1::WatchEvent* event = out->add_events();
        *event = *item.event;
        // The ACL decided who sees the event; it is not the client's to see.
        if (event->acl_size() > 0) event->clear_acl();
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

bool WatchHub::Backlogged(StreamId stream) const {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  return it != streams_.end() && it->second->queue.size() >= options_.max_stream_buffer;
}

}  // namespace synod::server
