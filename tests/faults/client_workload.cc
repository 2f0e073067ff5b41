#include "tests/faults/client_workload.h"

#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "tests/faults/tree_calls.h"

namespace synod::faults {

void ClientWorkload::Start() {
  stop_ = false;
  for (int c = 0; c < clients_; ++c) threads_.emplace_back([this, c] { RunClient(c); });
}

void ClientWorkload::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

int ClientWorkload::PickReplica(int client, std::mt19937_64* rng) const {
  const int n = cluster_->size();
  return (*rng)() % 10 < 7 ? client % n + 1 : 1 + static_cast<int>((*rng)() % n);
}

absl::Status ClientWorkload::ListEverywhere(const std::string& parent, absl::Time deadline) {
  for (int replica = 1; replica <= cluster_->size(); ++replica) {
    SYNOD_RETURN_IF_ERROR(
        ListChildren(cluster_, recorder_, replica, parent, deadline - absl::Now()).status());
  }
  return absl::OkStatus();
}

}  // namespace synod::faults
