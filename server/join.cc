#include "server/join.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "synod/v1/cluster.grpc.pb.h"

namespace synod::server {
namespace {

// How long a member missing from the answers is asked about again. A
// replica that has just restarted answers Status before it has re-read its
// membership from its log, so it may not list a member added since; a
// joined member restarted together with the others would otherwise refuse
// to start.
constexpr absl::Duration kNotListedPatience = absl::Seconds(10);

}  // namespace

absl::StatusOr<JoinInfo> DiscoverCluster(
    absl::string_view endpoints, uint64_t member_id, absl::Duration timeout_per_endpoint,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  struct Endpoint {
    std::string addr;
    std::unique_ptr<v1::Cluster::Stub> stub;
  };
  // One channel per endpoint for all the rounds below.
  std::vector<Endpoint> all;
  for (absl::string_view endpoint : absl::StrSplit(endpoints, ',', absl::SkipWhitespace())) {
    all.push_back(Endpoint{std::string(endpoint),
                           v1::Cluster::NewStub(
                               grpc::CreateChannel(std::string(endpoint), credentials))});
  }
  const absl::Time patience = absl::Now() + kNotListedPatience;
  while (true) {
    std::string errors;
    std::string not_listed_by;
    for (Endpoint& e : all) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_per_endpoint));
      context.set_wait_for_ready(true);  // ride out a replica that is just starting
      v1::StatusResponse status;
      grpc::Status s = e.stub->Status(&context, v1::StatusRequest(), &status);
      if (!s.ok()) {
        absl::StrAppend(&errors, " ", e.addr, ": ", s.error_message(), ";");
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
      if (found) return info;
      not_listed_by = e.addr;
    }
    if (not_listed_by.empty()) {
      return absl::UnavailableError(absl::StrCat("no --join endpoint answered:", errors));
    }
    if (absl::Now() >= patience) {
      return absl::FailedPreconditionError(
          absl::StrCat("member ", member_id, " is not in the cluster ", not_listed_by,
                       " belongs to; add it first (Cluster.MemberAdd / synodctl member add)"));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

}  // namespace synod::server
