// Test helpers for the WatchHub tests: event and request builders, a task
// runner the test steps by hand, an in-memory EventHistory, and a fixture
// that applies revisions and drains streams.
//
// Thread: the test thread, except FakeHistory, which is safe from any.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/watch/watch_hub.h"
#include "storage/path.h"

namespace synod::server {

inline v1::WatchEvent Ev(v1::EventType type, std::string path, uint64_t revision) {
  v1::WatchEvent e;
  e.set_type(type);
  e.set_path(std::move(path));
  e.set_revision(revision);
  return e;
}

inline v1::WatchCreateRequest Req(uint64_t id, std::string path, v1::WatchKind kind,
                                  uint64_t start_revision = 0, uint64_t session_id = 0) {
  v1::WatchCreateRequest r;
  r.set_watch_id(id);
  r.set_path(std::move(path));
  r.set_kind(kind);
  r.set_start_revision(start_revision);
  r.set_session_id(session_id);
  return r;
}

// Runs posted tasks only when the test says so: catch-up interleavings are
// chosen by the test, not by a scheduler.
class ManualRunner : public TaskRunner {
 public:
  void Post(absl::AnyInvocable<void() &&> task) override { tasks_.push_back(std::move(task)); }
  // Runs tasks (including ones they post) until none is left; returns how many ran.
  int RunAll() {
    int n = 0;
    while (!tasks_.empty()) {
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      std::move(task)();
      ++n;
    }
    return n;
  }
  bool RunOne() {
    if (tasks_.empty()) return false;
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    std::move(task)();
    return true;
  }
  size_t pending() const { return tasks_.size(); }

 private:
  std::deque<absl::AnyInvocable<void() &&>> tasks_;
};

// The replicated event log as a list; pages hold whole revisions, like the
// store's.
class FakeHistory : public EventHistory {
 public:
  absl::StatusOr<EventPage> EventsAfter(uint64_t after, size_t limit) override {
    absl::StatusOr<EventPage> page = Read(after, limit);
    // Runs what the test wants to happen while a read is in flight (the
    // hub's lock is not held: the apply thread goes on).
    std::function<void()> hook;
    hook.swap(read_hook_);
    if (hook) hook();
    return page;
  }
  void OnNextRead(std::function<void()> hook) { read_hook_ = std::move(hook); }

  absl::StatusOr<EventPage> Read(uint64_t after, size_t limit) {
    absl::MutexLock lock(&mu_);
    ++reads_;
    if (!fail_.ok()) return fail_;
    EventPage page;
    page.revision = applied_;
    if (after < compact_revision_) {
      page.code = v1::COMPACTED;
      return page;
    }
    for (size_t i = 0; i < events_.size(); ++i) {
      const v1::WatchEvent& e = events_[i];
      if (e.revision() <= after) continue;
      if (limit != 0 && page.events.size() >= limit &&
          e.revision() != page.events.back().revision()) {
        page.has_more = true;
        break;
      }
      page.events.push_back(e);
    }
    return page;
  }

  // Commits one revision's events (the store commits before the hub hears).
  void Commit(uint64_t revision, const std::vector<v1::WatchEvent>& events) {
    absl::MutexLock lock(&mu_);
    for (const auto& e : events) events_.push_back(e);
    applied_ = revision;
  }
  void Compact(uint64_t revision) {
    absl::MutexLock lock(&mu_);
    compact_revision_ = revision;
  }
  void Fail(absl::Status s) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(s);
  }
  int reads() {
    absl::MutexLock lock(&mu_);
    return reads_;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t compact_revision_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
  int reads_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> read_hook_;  // test thread only
};

// What a consumer saw on one stream, flattened.
struct Seen {
  std::vector<uint64_t> created;
  // (watch_id, revision, type, path) per event.
  std::vector<std::tuple<uint64_t, uint64_t, v1::EventType, std::string>> events;
  // watch_id -> cancel code (OK for a fired one-shot).
  std::map<uint64_t, v1::ErrorCode> canceled;
  std::map<uint64_t, std::string> reasons;
  int responses = 0;

  std::vector<uint64_t> Revisions(uint64_t watch_id) const {
    std::vector<uint64_t> out;
    for (const auto& [id, rev, type, path] : events) {
      if (id == watch_id) out.push_back(rev);
    }
    return out;
  }
};

class WatchHubTest : public ::testing::Test {
 protected:
  WatchHubTest() { Reset(WatchHubOptions{}); }

  void Reset(WatchHubOptions options, uint64_t applied = 0) {
    hub_.reset();
    options.validate_path = storage::ValidatePath;
    hub_ = std::make_unique<WatchHub>(std::move(options), &history_, &runner_, applied);
    applied_ = applied;
  }

  WatchHub::StreamId Open(v1::Caller caller = v1::Caller()) {
    auto counter = std::make_shared<int>(0);
    WatchHub::StreamId id = hub_->OpenStream([counter] { ++*counter; }, std::move(caller));
    ready_counts_[id] = counter;
    return id;
  }
  int ReadyCalls(WatchHub::StreamId id) { return *ready_counts_[id]; }

  // Commits and applies one revision.
  void Apply(std::vector<v1::WatchEvent> events) {
    ++applied_;
    for (auto& e : events) e.set_revision(applied_);
    history_.Commit(applied_, events);
    hub_->OnApplied(applied_, events);
  }
  void Set(const std::string& path) { Apply({Ev(v1::EVENT_NODE_DATA_CHANGED, path, 0)}); }
  void Create(const std::string& path) {
    Apply({Ev(v1::EVENT_NODE_CREATED, path, 0),
           Ev(v1::EVENT_NODE_CHILDREN_CHANGED, std::string(storage::ParentPath(path)), 0)});
  }
  void Delete(const std::string& path) {
    Apply({Ev(v1::EVENT_NODE_DELETED, path, 0),
           Ev(v1::EVENT_NODE_CHILDREN_CHANGED, std::string(storage::ParentPath(path)), 0)});
  }

  Seen Drain(WatchHub::StreamId id) {
    Seen seen;
    v1::WatchResponse r;
    while (hub_->Poll(id, &r)) {
      ++seen.responses;
      if (r.created()) seen.created.push_back(r.watch_id());
      for (const auto& e : r.events()) {
        seen.events.emplace_back(r.watch_id(), e.revision(), e.type(), e.path());
      }
      if (r.canceled()) {
        EXPECT_FALSE(seen.canceled.contains(r.watch_id())) << "canceled twice: " << r.watch_id();
        seen.canceled[r.watch_id()] = r.cancel_code();
        seen.reasons[r.watch_id()] = r.cancel_reason();
      }
    }
    return seen;
  }

  FakeHistory history_;
  ManualRunner runner_;
  std::unique_ptr<WatchHub> hub_;
  uint64_t applied_ = 0;
  std::map<WatchHub::StreamId, std::shared_ptr<int>> ready_counts_;
};

}  // namespace synod::server
