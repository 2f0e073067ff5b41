// WatchHub: streams and watches coming and going (open, close, create,
// cancel, cancel by session), the bounds on how many watches may exist, and
// the hub's stats. Matching applied events is in watch_hub_dispatch.cc,
// catch-up from history in watch_hub_catch_up.cc, the per-stream queues and
// their overflow in watch_hub_queue.cc.
//
// Thread: gRPC threads call these; each takes WatchHub::mu_ and runs
// on_ready callbacks only after releasing it.
#include "server/watch/watch_hub.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/watch/watch_hub_internal.h"

namespace synod::server {

WatchHub::WatchHub(WatchHubOptions options, EventHistory* history, TaskRunner* runner,
                   uint64_t applied_revision)
    : options_(std::move(options)),
      history_(history),
      runner_(runner),
      applied_(applied_revision) {}

WatchHub::~WatchHub() = default;

WatchHub::StreamId WatchHub::OpenStream(absl::AnyInvocable<void()> on_ready, v1::Caller caller) {
  auto stream = std::make_unique<Stream>();
  stream->caller = std::move(caller);
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
