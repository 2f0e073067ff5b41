// The descriptor a log snapshot carries in its data: the members (with
// their addresses) as of the snapshot index. The snapshot's metadata holds
// the Raft membership (ConfState: ids only); the descriptor adds what the
// replica needs to reach each member after the log before it is gone.
//
// Encoded as a v1::SnapshotChunk with only `members` set: the first chunk
// of a snapshot stream carries the same list in the same field.
//
// Thread: any (pure functions).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "synod/v1/common.pb.h"

namespace synod::storage {

std::string EncodeSnapshotDescriptor(const std::vector<v1::Member>& members);
// Errors: DataLoss when `data` does not parse (the log or the leader's
// snapshot is corrupt).
absl::StatusOr<std::vector<v1::Member>> DecodeSnapshotDescriptor(std::string_view data);

}  // namespace synod::storage
