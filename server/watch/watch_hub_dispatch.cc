// WatchHub: matching each applied event against the watches through the
// path index (exact path; the ancestors of the event's path for recursive
// watches), and handing each triggered watch its event: queued at once, or
// held while the watch catches up. The index is kept by IndexAdd and
// IndexRemove here. Which event triggers which watch kind follows
// watch_match.h; the index must agree with WatchMatches.
//
// Thread: OnApplied runs on the apply thread; Deliver and Trigger also run
// from catch-up (watch_hub_catch_up.cc) and the index functions from
// Create and RemoveWatch (gRPC threads); all under WatchHub::mu_.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/watch/watch_hub.h"
#include "server/watch/watch_hub_internal.h"
#include "server/watch/watch_match.h"
#include "storage/acl.h"

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

void WatchHub::FireOneShots(std::vector<Watch*>* list,
                            const std::shared_ptr<const v1::WatchEvent>& event, WakeList* wake) {
  std::vector<Watch*> keep;
  // Detached first: Deliver removes fired watches, which must not edit the
  // list being walked.
  std::vector<Watch*> walking;
  walking.swap(*list);
  for (Watch* w : walking) {
    ++match_visits_;
    const bool passes = event->revision() > w->start_revision && Visible(w, *event);
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
    if (event->revision() > w->start_revision && Visible(w, *event)) Trigger(w, event, wake);
  }
}

bool WatchHub::Visible(const Watch* w, const v1::WatchEvent& event) const {
  // An open node (empty ACL, the common case) costs this one branch.
  return event.acl().empty() || storage::Permits(event.acl(), storage::kPermRead, w->stream->caller);
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

}  // namespace synod::server
