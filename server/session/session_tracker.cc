#include "server/session/session_tracker.h"

#include <algorithm>

namespace synod::server {

// ---------------------------------------------------------- SessionTracker --

SessionTracker::SessionTracker(Options options) : options_(options) {}

void SessionTracker::SetDeadline(uint64_t id, Entry* entry, absl::Time deadline) {
  by_deadline_.erase({entry->deadline, id});
  entry->deadline = deadline;
  by_deadline_.emplace(deadline, id);
}

void SessionTracker::RestartAll(absl::Time now) {
  by_deadline_.clear();
  for (auto& [id, entry] : sessions_) {
    entry.expiring = false;
    entry.deadline = now + entry.timeout;
    by_deadline_.emplace(entry.deadline, id);
  }
}

void SessionTracker::OnBecomeLeader(absl::Span<const SessionInfo> sessions, absl::Time now) {
  absl::MutexLock lock(&mu_);
  leader_ = true;
  for (const SessionInfo& s : sessions) {
    // try_emplace keeps an entry the apply thread added meanwhile; its
    // timeout is the same (both come from the replicated open entry).
    sessions_.try_emplace(s.id, Entry{s.timeout, now + s.timeout, false});
  }
  RestartAll(now);
}

void SessionTracker::OnLoseLeadership() {
  absl::MutexLock lock(&mu_);
  leader_ = false;
}

void SessionTracker::Reset(absl::Span<const SessionInfo> sessions, absl::Time now) {
  absl::MutexLock lock(&mu_);
  sessions_.clear();
  for (const SessionInfo& s : sessions) sessions_[s.id] = Entry{s.timeout, now + s.timeout, false};
  RestartAll(now);
}

void SessionTracker::Add(uint64_t id, absl::Duration timeout, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = sessions_.try_emplace(id, Entry{timeout, now + timeout, false});
  if (inserted) {
    by_deadline_.emplace(it->second.deadline, id);
    return;
  }
  it->second.timeout = timeout;
  it->second.expiring = false;
  SetDeadline(id, &it->second, now + timeout);
}

void SessionTracker::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  by_deadline_.erase({it->second.deadline, id});
  sessions_.erase(it);
}

bool SessionTracker::Touch(uint64_t id, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.expiring) return false;
  // A late heartbeat never shortens a deadline (batches from followers may
  // arrive out of order).
  absl::Time deadline = now + it->second.timeout;
  if (deadline > it->second.deadline) SetDeadline(id, &it->second, deadline);
  return true;
}

std::vector<uint64_t> SessionTracker::TouchAll(absl::Span<const uint64_t> ids, absl::Time now) {
  std::vector<uint64_t> refused;
  for (uint64_t id : ids) {
    if (!Touch(id, now)) refused.push_back(id);
  }
  return refused;
}

std::vector<uint64_t> SessionTracker::Expired(absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> out;
  if (!leader_) return out;
  while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
    const uint64_t id = by_deadline_.begin()->second;
    Entry& entry = sessions_.at(id);
    entry.expiring = true;
    // Reported again after the retry delay if the expiry never applies.
    SetDeadline(id, &entry, now + options_.expire_retry);
    out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<absl::Time> SessionTracker::NextDeadline() const {
  absl::MutexLock lock(&mu_);
  if (by_deadline_.empty()) return std::nullopt;
  return by_deadline_.begin()->first;
}

bool SessionTracker::is_leader() const {
  absl::MutexLock lock(&mu_);
  return leader_;
}

size_t SessionTracker::size() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

// -------------------------------------------------------- HeartbeatBatcher --

void HeartbeatBatcher::set_interval(absl::Duration interval) {
  absl::MutexLock lock(&mu_);
  interval_ = interval;
}

void HeartbeatBatcher::Add(uint64_t session_id) {
  absl::MutexLock lock(&mu_);
  pending_.insert(session_id);
}

std::vector<uint64_t> HeartbeatBatcher::TakeIfDue(absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> batch;
  if (pending_.empty() || now < last_taken_ + interval_) return batch;
  batch.assign(pending_.begin(), pending_.end());
  pending_.clear();
  last_taken_ = now;
  std::sort(batch.begin(), batch.end());
  return batch;
}

std::optional<absl::Time> HeartbeatBatcher::NextDue() const {
  absl::MutexLock lock(&mu_);
  if (pending_.empty()) return std::nullopt;
  return last_taken_ + interval_;
}

void HeartbeatBatcher::Requeue(absl::Span<const uint64_t> ids) {
  absl::MutexLock lock(&mu_);
  pending_.insert(ids.begin(), ids.end());
}

size_t HeartbeatBatcher::pending() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

}  // namespace synod::server
