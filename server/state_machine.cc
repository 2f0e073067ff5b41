#include "server/state_machine.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "base/check.h"
#include "base/log.h"
#include "server/reply_batch.h"
#include "storage/log_store.h"

namespace synod::server {

StateMachine::StateMachine(const Options& options, storage::TreeStore* store,
                           const storage::ApplyLimits& limits, RequestTracker* tracker,
                           ReplicaState* state, const storage::SnapshotFiles* snapshots)
    : options_(options),
      store_(store),
      tracker_(tracker),
      state_(state),
      snapshots_(snapshots),
      applier_(store, limits) {
  applied_ = store_->meta().applied_index;
  state_->set_applied(applied_);
}

StateMachine::~StateMachine() { Stop(); }

void StateMachine::Start() {
  thread_ = std::thread([this] {
    base::NameThread("synod-apply");
    Loop();
  });
}

void StateMachine::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // Replies of everything applied go out before the thread stops.
  absl::Notification drained;
  replies_.Post([&drained] { drained.Notify(); });
  drained.WaitForNotification();
  replies_.Stop();
}

void StateMachine::Enqueue(ApplyWork work) {
  const size_t n = work.entries.size() + (work.restore_index.has_value() ? 1 : 0);
  if (n == 0) return;
  absl::MutexLock lock(&mu_);
  queued_entries_ += n;
  queue_.push_back(std::move(work));
}

bool StateMachine::Full() {
  absl::MutexLock lock(&mu_);
  if (queued_entries_ < options_.max_queue_entries) return false;
  room_wanted_ = true;
  return true;
}

void StateMachine::set_on_room(std::function<void()> on_room) {
  absl::MutexLock lock(&room_mu_);
  on_room_ = std::move(on_room);
}

void StateMachine::WaitApplied(uint64_t index, std::function<void()> run, bool inline_ok,
                               uint64_t key) {
  {
    absl::MutexLock lock(&mu_);
    if (applied_ < index) {
      waits_.emplace(index, Wait{key, std::move(run)});
      return;
    }
    if (!inline_ok) {
      replies_.Post(std::move(run));
      return;
    }
  }
  run();
}

void StateMachine::CancelWait(uint64_t index, uint64_t key) {
  if (key == 0) return;
  absl::MutexLock lock(&mu_);
  auto [begin, end] = waits_.equal_range(index);
  for (auto it = begin; it != end; ++it) {
    if (it->second.key == key) {
      waits_.erase(it);
      return;
    }
  }
}

size_t StateMachine::pending_waits() const {
  absl::MutexLock lock(&mu_);
  return waits_.size();
}

uint64_t StateMachine::applied() const {
  absl::MutexLock lock(&mu_);
  return applied_;
}

void StateMachine::PublishApplied(uint64_t index) { RunReady(SetApplied(index)); }

std::vector<std::function<void()>> StateMachine::SetApplied(uint64_t index) {
  std::vector<std::function<void()>> ready;
  absl::MutexLock lock(&mu_);
  applied_ = index;
  state_->set_applied(index);
  auto end = waits_.upper_bound(index);
  for (auto it = waits_.begin(); it != end; ++it) ready.push_back(std::move(it->second.run));
  waits_.erase(waits_.begin(), end);
  return ready;
}

void StateMachine::RunReady(std::vector<std::function<void()>> ready) {
  if (ready.empty()) return;
  replies_.Post([ready = std::move(ready)]() mutable {
    ReplyBatch replies;
    for (auto& run : ready) run();
  });
}

void StateMachine::Loop() {
  while (true) {
    std::deque<ApplyWork> work;
    bool room = false;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]()
                          ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
      mu_.Await(absl::Condition(&has_work));
      if (queue_.empty()) break;  // stopping, and everything queued is applied
      work.swap(queue_);
      queued_entries_ = 0;
      room = room_wanted_;
      room_wanted_ = false;
    }
    if (room) {
      absl::MutexLock lock(&room_mu_);
      if (on_room_) on_room_();
    }
    // Coalesce consecutive entries into large storage batches.
    std::vector<raft::Entry> pending;
    for (ApplyWork& w : work) {
      if (w.restore_index.has_value()) {
        ApplyEntries(&pending);
        Restore(*w.restore_index);
      }
      for (raft::Entry& e : w.entries) {
        pending.push_back(std::move(e));
        if (pending.size() >= options_.max_batch_entries) ApplyEntries(&pending);
      }
    }
    ApplyEntries(&pending);
  }
}

void StateMachine::ApplyEntries(std::vector<raft::Entry>* entries) {
  if (entries->empty()) return;
  const uint64_t applied = store_->meta().applied_index;
  std::vector<v1::Command> commands(entries->size());
  std::vector<storage::ApplyEntry> batch;
  batch.reserve(entries->size());
  for (size_t i = 0; i < entries->size(); ++i) {
    const raft::Entry& e = (*entries)[i];
    // Entries at or below the applied index are a replay after restart
    // (the core restarts from the last log snapshot, the state may be
    // ahead of it); the Applier skips them.
    storage::ApplyEntry a;
    a.index = e.index();
    if (e.type() == raftpb::ENTRY_NORMAL && !e.data().empty() && e.index() > applied) {
      if (commands[i].ParseFromString(e.data())) {
        a.command = &commands[i];
      } else {
        // Every replica has the same bytes, so every replica treats the
        // entry alike: as a no-op. Nobody proposes such bytes; say so loudly.
        base::Log("entry %llu: undecodable command; applied as a no-op",
                  static_cast<unsigned long long>(e.index()));
      }
    }
    batch.push_back(a);
  }
  const absl::Time apply_start = absl::Now();
  absl::StatusOr<std::vector<storage::EntryOutcome>> outcomes = applier_.ApplyBatch(batch);
  if (metrics_ != nullptr) {
    metrics_->apply_batch_seconds->ObserveDuration(absl::Now() - apply_start);
    metrics_->apply_batch_entries->Observe(static_cast<double>(batch.size()));
  }
  SYNOD_CHECK_OK(outcomes.status())
      << "applying entries " << batch.front().index << ".." << batch.back().index;
  const uint64_t last = batch.back().index;
  for (size_t i = 0; i < outcomes->size(); ++i) {
    const storage::ApplyEntry& a = batch[i];
    if (a.command == nullptr || !a.command->has_digest_check()) continue;
    // STYLE §1: a replica whose tree differs from the leader's at the same
    // revision must not serve it; stop loudly (rebuild it from its peers).
    SYNOD_CHECK((*outcomes)[i].result.code() != v1::DATA_LOSS)
        << "tree digest differs from the leader's at revision "
        << a.command->digest_check().revision() << " (leader " << a.command->digest_check().digest()
        << "): this replica's state has diverged; stopping. Move its data dir away and let it "
           "rejoin empty.";
  }
  // One line per expired session (replays after a restart are skipped).
  for (size_t i = 0; i < outcomes->size(); ++i) {
    const storage::ApplyEntry& a = batch[i];
    if ((*outcomes)[i].skipped || a.command == nullptr) continue;
    if (metrics_ != nullptr && a.command->origin_member() == options_.self) {
      metrics_->proposals_committed->Inc();
    }
    if (!a.command->has_expire_sessions()) continue;
    for (uint64_t id : a.command->expire_sessions().session_ids()) {
      if (metrics_ != nullptr) metrics_->sessions_expired->Inc();
      base::Log("event=session_expired session=%llu revision=%llu",
                static_cast<unsigned long long>(id), static_cast<unsigned long long>(a.index));
    }
  }
  if (observer_ != nullptr) {
    std::vector<AppliedEntry> applied_entries;
    applied_entries.reserve(outcomes->size());
    for (size_t i = 0; i < outcomes->size(); ++i) {
      if ((*outcomes)[i].skipped) continue;
      applied_entries.push_back(AppliedEntry{batch[i].index, batch[i].command, &(*outcomes)[i]});
    }
    observer_->OnApplied(applied_entries);
  }
  // The applied index is published first: a client that has the reply may
  // at once read at its revision or watch from it, anywhere on this
  // replica. This replica's writes then complete here, at once: finishing
  // a unary gRPC reply only queues it on the call (no blocking), and a hop
  // through the reply thread cost every write a thread wake-up. The reads
  // and waiters this batch released go to the reply thread only after
  // that, so a waiter that fails writes of an earlier term (RaftDriver)
  // never overtakes a write applied here.
  std::vector<std::function<void()>> ready = SetApplied(last);
  ReplyBatch replies;  // a stream's replies from this batch leave together
  for (size_t i = 0; i < outcomes->size(); ++i) {
    storage::EntryOutcome& o = (*outcomes)[i];
    const storage::ApplyEntry& a = batch[i];
    if (o.skipped || a.command == nullptr) continue;
    if (a.command->origin_member() != options_.self || a.command->origin_request() == 0) continue;
    Outcome outcome;
    outcome.code = o.result.code();
    outcome.result = &o.result;
    tracker_->Complete(a.command->origin_request(), outcome);
  }
  RunReady(std::move(ready));
  entries->clear();
}

void StateMachine::Restore(uint64_t index) {
  if (store_->meta().applied_index >= index) return;  // already there (restart)
  if (index == storage::kBootstrapIndex && store_->meta().applied_index == 0) {
    // The founding snapshot holds the empty tree, which a fresh store is.
    PublishApplied(index);
    if (observer_ != nullptr) observer_->OnRestored(index);
    return;
  }
  const std::string path = snapshots_->PathFor(index);
  absl::StatusOr<storage::SnapshotInfo> info = store_->RestoreSnapshot(path);
  SYNOD_CHECK_OK(info.status()) << "restoring snapshot " << path;
  SYNOD_CHECK(info->meta.applied_index == index)
      << "snapshot file " << path << " holds index " << info->meta.applied_index;
  // Debug: the snapshot was logged when it was received.
  base::Log(base::LogLevel::kDebug, "state restored from snapshot at index %llu",
            static_cast<unsigned long long>(index));
  PublishApplied(index);
  if (observer_ != nullptr) observer_->OnRestored(index);
}

}  // namespace synod::server
