// WatchHub: catch-up of a watch whose start_revision is behind the applied
// revision (or whose events a snapshot install skipped): it reads the
// EventHistory page by page after its cursor, delivering what matches,
// while live events for it are held; once history covers the revision at
// which it started holding, the held events follow and the watch is live,
// with no gap and no duplicate. Reads pause while the stream's buffer is
// over half full and resume as Poll drains it.
//
// Thread: RunCatchUp runs on the TaskRunner and reads history without
// WatchHub::mu_; OnRestored runs on the apply thread; the rest run under
// WatchHub::mu_ from whichever thread holds it.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_hub_internal.h"
#include "server/watch/watch_match.h"

namespace synod::server {

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
        if (event.revision() <= start || !WatchMatches(kind, path, event) || !Visible(w, event)) {
          continue;
        }
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

}  // namespace synod::server
