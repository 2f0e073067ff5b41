#include "storage/snapshot_descriptor.h"

#include "synod/v1/cluster.pb.h"

namespace synod::storage {

std::string EncodeSnapshotDescriptor(const std::vector<v1::Member>& members) {
  v1::SnapshotChunk descriptor;
  for (const v1::Member& m : members) *descriptor.add_members() = m;
  return descriptor.SerializeAsString();
}

absl::StatusOr<std::vector<v1::Member>> DecodeSnapshotDescriptor(std::string_view data) {
  v1::SnapshotChunk descriptor;
  if (!descriptor.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return absl::DataLossError("log snapshot descriptor does not parse");
  }
  return std::vector<v1::Member>(descriptor.members().begin(), descriptor.members().end());
}

}  // namespace synod::storage
