#include "client/src/core.h"

#include <algorithm>
#include <vector>

#include "client/src/convert.h"
#include "client/src/unary_call.h"

namespace synod::client {

const char* ChannelStateName(grpc_connectivity_state state) {
  switch (state) {
    case GRPC_CHANNEL_IDLE:
      return "IDLE";
    case GRPC_CHANNEL_CONNECTING:
      return "CONNECTING";
    case GRPC_CHANNEL_READY:
      return "READY";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "TRANSIENT_FAILURE";
    case GRPC_CHANNEL_SHUTDOWN:
      return "SHUTDOWN";
  }
  return "UNKNOWN";
}

bool CallTracker::Register(std::shared_ptr<Call> call) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  Call* key = call.get();
  live_.emplace(key, std::move(call));
  return true;
}

void CallTracker::Unregister(Call* call) {
  // The entry may hold the last reference: destroy it outside the lock.
  std::shared_ptr<Call> last;
  absl::ReleasableMutexLock lock(&mu_);
  auto it = live_.find(call);
  if (it == live_.end()) return;
  last = std::move(it->second);
  live_.erase(it);
  lock.Release();
  last.reset();
}

void CallTracker::CloseAndWait() {
  std::vector<std::shared_ptr<Call>> live;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (auto& [key, call] : live_) live.push_back(call);
  }
  // Outside the lock: a cancelled call may finish (and unregister) inline.
  for (auto& call : live) call->Cancel();
  live.clear();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_map<Call*, std::shared_ptr<Call>>* m) { return m->empty(); }, &live_));
}

ClientCore::ClientCore(Client::Options options, size_t start_endpoint, uint64_t seed,
                       std::shared_ptr<grpc::ChannelCredentials> credentials)
    : options_(std::move(options)),
      credentials_(options_),
      endpoints_(options_.endpoints, start_endpoint, std::move(credentials)),
      rng_(seed) {}

void ClientCore::NoteRevision(uint64_t revision) {
  uint64_t current = last_revision_.load();
  while (revision > current && !last_revision_.compare_exchange_weak(current, revision)) {
  }
}

absl::Duration ClientCore::Jitter(absl::Duration base) {
  const int64_t hi = std::max<int64_t>(1, absl::ToInt64Microseconds(base));
  absl::MutexLock lock(&mu_);
  std::uniform_int_distribution<int64_t> dist(hi / 2, hi);
  return absl::Microseconds(dist(rng_));
}

absl::Duration ClientCore::NextBackoff(absl::Duration current) const {
  return std::min(current * 2, options_.max_backoff);
}

void ClientCore::RefreshMembers() {
  if (!options_.discover_members) return;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (now - last_refresh_ < absl::Seconds(1)) return;
    last_refresh_ = now;
  }
  RpcSpec<v1::MemberListRequest, v1::MemberListResponse> spec;
  spec.method = [](Endpoint& ep, grpc::ClientContext* ctx, const v1::MemberListRequest* req,
                   v1::MemberListResponse* resp, std::function<void(grpc::Status)> done) {
    ep.cluster->async()->MemberList(ctx, req, resp, std::move(done));
  };
  v1::MemberListRequest req;
  // The local view is enough to find addresses, and works without a quorum.
  req.mutable_read()->set_consistency(v1::SERIALIZABLE);
  StartCall<v1::MemberListRequest, v1::MemberListResponse>(
      this, std::move(spec), std::move(req), absl::Now() + options_.attempt_timeout,
      [this](absl::StatusOr<v1::MemberListResponse> resp) {
        if (resp.ok()) endpoints_.SetMembers(FromProto(resp->members()));
      });
}

}  // namespace synod::client
