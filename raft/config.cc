#include "raft/config.h"

namespace synod::raft {

absl::Status Config::Validate() const {
  if (id == kNoNode) return absl::InvalidArgumentError("raft: config id must not be 0");
  if (heartbeat_tick <= 0) {
    return absl::InvalidArgumentError("raft: heartbeat_tick must be greater than 0");
  }
  if (election_tick <= heartbeat_tick) {
    return absl::InvalidArgumentError("raft: election_tick must be greater than heartbeat_tick");
  }
  if (storage == nullptr) return absl::InvalidArgumentError("raft: storage must not be null");
  if (max_inflight_msgs <= 0) {
    return absl::InvalidArgumentError("raft: max_inflight_msgs must be greater than 0");
  }
  if (max_size_per_msg == 0) {
    return absl::InvalidArgumentError("raft: max_size_per_msg must be greater than 0");
  }
  return absl::OkStatus();
}

}  // namespace synod::raft
