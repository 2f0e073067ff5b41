#include "server/periodic_duties.h"

#include <algorithm>
#include <vector>

#include "absl/time/clock.h"
#include "base/log.h"

namespace synod::server {

PeriodicDuties::~PeriodicDuties() { Stop(); }

void PeriodicDuties::Start() {
  thread_ = std::thread([this] {
    base::NameThread("synod-duties");
    Loop();
  });
}

void PeriodicDuties::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void PeriodicDuties::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.tick);
      if (stopping_) return;
    }
    const absl::Time now = absl::Now();
    const bool leader = state_->role() == raft::Role::kLeader;
    if (leader && !was_leader_) {
      absl::StatusOr<std::vector<storage::Session>> sessions = store_->ListSessions();
      if (!sessions.ok()) {
        base::Log("cannot list sessions as new leader: %s", sessions.status().ToString().c_str());
        continue;  // try again next tick
      }
      std::vector<SessionTracker::SessionInfo> infos;
      for (const storage::Session& s : *sessions) {
        infos.push_back({s.id, absl::Milliseconds(s.timeout_ms)});
      }
      tracker_->OnBecomeLeader(infos, now);
      base::Log("leader: tracking %zu sessions, clocks restarted", infos.size());
    } else if (!leader && was_leader_) {
      tracker_->OnLoseLeadership();
    }
    was_leader_ = leader;
    SettingsWork(leader, now);
    if (leader) {
      LeaderWork(now);
    } else {
      FollowerWork(now);
    }
  }
}

void PeriodicDuties::LeaderWork(absl::Time now) {
  std::vector<uint64_t> expired = tracker_->Expired(now);
  for (size_t i = 0; i < expired.size(); i += options_.max_expired_per_command) {
    v1::Command command;
    for (size_t j = i; j < expired.size() && j < i + options_.max_expired_per_command; ++j) {
      command.mutable_expire_sessions()->add_session_ids(expired[j]);
    }
    // No request waits on it (origin_request 0); a lost proposal is
    // reported again by the tracker after its retry interval.
    driver_->Propose(std::move(command));
  }
  if (options_.digest_check > absl::ZeroDuration() && now >= next_digest_check_) {
    next_digest_check_ = now + options_.digest_check;
    const storage::StoreMeta meta = store_->meta();
    if (meta.applied_index > last_digest_check_) {
      last_digest_check_ = meta.applied_index;
      v1::Command command;
      command.mutable_digest_check()->set_revision(meta.applied_index);
      command.mutable_digest_check()->set_digest(meta.digest);
      driver_->Propose(std::move(command));
    }
  }
  if (now < next_sweep_) return;
  next_sweep_ = now + options_.ttl_sweep;
  MaybeCompactHistory();
  absl::StatusOr<std::vector<std::string>> paths =
      store_->FindExpired(absl::ToUnixMillis(now), options_.max_expired_per_command);
  if (!paths.ok()) {
    base::Log("TTL sweep failed: %s", paths.status().ToString().c_str());
    return;
  }
  if (paths->empty()) return;
  v1::Command command;
  for (std::string& p : *paths) command.mutable_delete_expired()->add_paths(std::move(p));
  driver_->Propose(std::move(command));
}

void PeriodicDuties::MaybeCompactHistory() {
  const uint64_t keep = options_.history_retention;
  if (keep == 0) return;
  const storage::StoreMeta meta = store_->meta();
  if (meta.applied_index <= keep) return;
  const uint64_t target = meta.applied_index - keep;
  const uint64_t step = std::max<uint64_t>(2, keep / 8);
  if (target < meta.compact_revision + step) return;
  v1::Command command;
  command.mutable_compact_history()->set_revision(target);
  // Nothing waits on it; if it is lost the next sweep proposes it again.
  driver_->Propose(std::move(command));
}

void PeriodicDuties::SettingsWork(bool leader, absl::Time now) {
  if (settings_seed_ == nullptr) return;
  const std::optional<storage::ClusterSettings> recorded = store_->meta().settings;
  settings_seed_->Check(recorded);
  if (leader) {
    // Nothing waits on it; the seed proposes again if it has not applied.
    if (std::optional<v1::Command> c = settings_seed_->BootstrapProposal(recorded, now)) {
      driver_->Propose(*std::move(c));
    }
  }
  const int64_t shortest = recorded.value_or(storage::ClusterSettings()).min_session_timeout_ms;
  if (shortest != heartbeat_for_timeout_ms_) {
    heartbeat_for_timeout_ms_ = shortest;
    batcher_->set_interval(std::max(absl::Milliseconds(100), absl::Milliseconds(shortest) / 4));
  }
}

void PeriodicDuties::FollowerWork(absl::Time now) {
  std::vector<uint64_t> ids = batcher_->TakeIfDue(now);
  if (ids.empty()) return;
  const raft::NodeId leader = state_->leader();
  if (leader == raft::kNoNode || leader == state_->self()) {
    batcher_->Requeue(ids);
    return;
  }
  v1::KeepAliveBatchRequest request;
  request.set_from(state_->self());
  request.set_cluster_id(state_->cluster_id());
  for (uint64_t id : ids) request.add_session_ids(id);
  absl::StatusOr<v1::KeepAliveBatchResponse> response =
      transport_->KeepAliveBatch(leader, request, absl::Seconds(1));
  if (!response.ok() || response->header().code() != v1::OK) batcher_->Requeue(ids);
}

}  // namespace synod::server
