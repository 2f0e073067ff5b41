// The Tree calls a create-based workload's setup and end share: make its
// parent nodes, and list a parent's children with each one's data and
// owner (recorded as a kList op).
//
// Thread: any; each call uses its own stubs on the cluster's channels.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/faults/history.h"
#include "tests/faults/netns_cluster.h"

namespace synod::faults {

// Creates each of `paths` in order (persistent, empty), skipping those that
// exist, on replica 1, 2, ... in turn until each is there. UNAVAILABLE once
// `timeout` has passed.
absl::Status EnsureNodes(NetnsCluster* cluster, const std::vector<std::string>& paths,
                         absl::Duration timeout);

// Lists `parent` on `replica`: every page of a LINEARIZABLE GetChildren
// (with stats), then each child's data read at the first page's revision
// on the same replica. A child gone at that revision (created after it, on
// a later page) is left out and named in the op's error. Retried until
// `timeout`. The op (client 1000 + replica) is recorded in `history`.
absl::StatusOr<Op> ListChildren(NetnsCluster* cluster, HistoryRecorder* history, int replica,
                                const std::string& parent, absl::Duration timeout);

}  // namespace synod::faults
