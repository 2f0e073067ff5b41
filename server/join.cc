#include "server/join.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "synod/v1/cluster.grpc.pb.h"

namespace synod::server {

absl::StatusOr<JoinInfo> DiscoverCluster(absl::string_view endpoints, uint64_t member_id,
                                         absl::Duration timeout_per_endpoint) {
  std::string errors;
  for (absl::string_view endpoint : absl::StrSplit(endpoints, ',', absl::SkipWhitespace())) {
    auto stub = v1::Cluster::NewStub(
        grpc::CreateChannel(std::string(endpoint), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_per_endpoint));
    context.set_wait_for_ready(true);  // ride out a replica that is just starting
    v1::StatusResponse status;
    grpc::Status s = stub->Status(&context, v1::StatusRequest(), &status);
    if (!s.ok()) {
      absl::StrAppend(&errors, " ", endpoint, ": ", s.error_message(), ";");
      continue;
    }
    JoinInfo info;
    info.cluster_id = status.header().cluster_id();
    bool found = false;
    for (const v1::MemberStatus& ms : status.members()) {
      info.members.push_back(ms.member());
      if (ms.member().id() == member_id) {
        info.self = ms.member();
        found = true;
      }
    }
    if (!found) {
      return absl::FailedPreconditionError(
          absl::StrCat("member ", member_id, " is not in the cluster ", endpoint,
                       " belongs to; add it first (Cluster.MemberAdd / synodctl member add)"));
    }
    return info;
  }
  return absl::UnavailableError(absl::StrCat("no --join endpoint answered:", errors));
}

}  // namespace synod::server
