// The Tree calls a create-based workload's setup and end share: make its
// parent nodes, and list a parent's children with each one's data and
// owner (recorded as a kList op).
//
// Thread: any; each call uses its own stubs on the cluster's channels.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/faults/history.h"
#include "tests/faults/netns_cluster.h"

namespace synod::faults {

// Creates each (path, data) in order (persistent), on replica 1, 2, ... in
// turn until each is there. NODE_EXISTS counts as there: each run starts
// from empty data dirs, so an existing node is one an earlier attempt of
// this call created (its reply lost). UNAVAILABLE once `timeout` has passed.
absl::Status EnsureNodes(NetnsCluster* cluster,
                         const std::vector<std::pair<std::string, std::string>>& nodes,
                         absl::Duration timeout);

// Lists `parent` on `replica`: every page of a LINEARIZABLE GetChildren
// (with stats), then each child's data read at the first page's revision
// on the same replica. A child gone at that revision (created after it, on
// a later page) is left out and named in the op's error. Retried until
// `timeout`. The op (client 1000 + replica) is recorded in `history`.
absl::StatusOr<Op> ListChildren(NetnsCluster* cluster, HistoryRecorder* history, int replica,
                                const std::string& parent, absl::Duration timeout);

}  // namespace synod::faults
