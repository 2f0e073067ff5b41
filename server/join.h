// Joining an existing cluster (--join): a new member asks a running replica
// for the cluster's id and membership. The member must have been added
// first (Cluster.MemberAdd, as a learner): the answer must list it, and its
// addresses there are the ones it uses. It then starts with an empty log
// and is caught up by the leader (snapshot, then log).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

struct JoinInfo {
  uint64_t cluster_id = 0;
  std::vector<v1::Member> members;  // as the contacted replica knows them
  v1::Member self;
};

// Tries each endpoint (client addresses, comma-separated) until one answers
// Cluster.Status listing `member_id`. When replicas answer without listing
// it, asks all of them again for up to 10 s (one may have just restarted
// and not yet re-read its membership). `credentials`: of the channels to
// the client ports (TLS when they serve TLS). Errors: Unavailable (none
// answered), FailedPrecondition (`member_id` is not a member: add it first).
absl::StatusOr<JoinInfo> DiscoverCluster(
    absl::string_view endpoints, uint64_t member_id, absl::Duration timeout_per_endpoint,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials);

}  // namespace synod::server
