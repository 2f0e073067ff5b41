// The founding membership given by --initial_cluster, and the cluster id
// derived from it.
//
// Syntax: comma-separated `id=peer_addr` entries, each optionally followed by
// `/client_addr`:  1=127.0.0.1:7101/127.0.0.1:7001,2=127.0.0.1:7102,...
// Ids are 1.. and unique; addresses are host:port and unique.
//
// The cluster id is a fixed hash of the sorted (id, peer_addr) pairs, so
// every founding member computes the same id without talking to the others,
// and a data dir started with a different founding membership is recognised
// as belonging to another cluster. Client addresses do not enter it (a member
// may learn or change them later).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

struct InitialCluster {
  std::vector<v1::Member> members;  // sorted by id
  uint64_t cluster_id = 0;
};

// Errors: InvalidArgument with the offending entry.
absl::StatusOr<InitialCluster> ParseInitialCluster(absl::string_view spec);

// A fixed 64-bit FNV-1a hash (same on every build and host).
uint64_t StableHash64(absl::string_view bytes);

}  // namespace synod::server
