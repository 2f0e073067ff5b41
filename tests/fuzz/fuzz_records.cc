// Fuzz target: the decoders of the state's stored records (storage/node.h:
// node, history entry, session; storage/cluster_settings.h: settings) and
// of the log snapshot descriptor (storage/snapshot_descriptor.h). Each reads
// bytes from RocksDB, a snapshot file or the Raft log, so damage must come
// out as DataLoss, never as a crash or a read past the end.
//
// Input: byte 0 picks the decoder (mod 5), the rest is the encoded record.
// Promises checked beyond "no crash": errors are DataLoss only; the node,
// history and session encodings are canonical (a decoded record encodes
// back to the same bytes); decoded settings are valid and round-trip; a
// decoded descriptor round-trips to the same members.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/cluster_settings.h"
#include "storage/node.h"
#include "storage/snapshot_descriptor.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/quiet_protobuf.h"

namespace synod::fuzz {
namespace {

constexpr std::initializer_list<absl::StatusCode> kDataLoss = {absl::StatusCode::kDataLoss};

template <typename Record, typename Decode, typename Encode>
void RoundTrip(std::string_view in, Decode decode, Encode encode, const char* what) {
  Record record;
  const absl::Status s = decode(in, &record);
  RequireTyped(s, kDataLoss, what);
  if (!s.ok()) return;
  Require(encode(record) == in, what, "encoding is not canonical");
}

std::string MembersKey(const std::vector<v1::Member>& members) {
  std::string key;
  for (const v1::Member& m : members) key += m.SerializeAsString() + '\n';
  return key;
}

}  // namespace
}  // namespace synod::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synod;
  using namespace synod::fuzz;
  ByteReader in(data, size);
  const uint8_t which = in.U8() % 5;
  const std::string_view bytes = in.Rest();
  switch (which) {
    case 0:
      RoundTrip<storage::Node>(bytes, storage::DecodeNode, storage::EncodeNode, "node");
      break;
    case 1:
      RoundTrip<storage::HistoryEntry>(bytes, storage::DecodeHistoryEntry,
                                       storage::EncodeHistoryEntry, "history entry");
      break;
    case 2:
      RoundTrip<storage::Session>(bytes, storage::DecodeSession, storage::EncodeSession,
                                  "session");
      break;
    case 3: {
      storage::ClusterSettings settings;
      const absl::Status s = storage::DecodeSettings(bytes, &settings);
      RequireTyped(s, kDataLoss, "settings");
      if (!s.ok()) break;
      Require(storage::ValidateSettings(settings).ok(), "decoded settings are not valid");
      storage::ClusterSettings again;
      Require(storage::DecodeSettings(storage::EncodeSettings(settings), &again).ok() &&
                  again == settings,
              "settings do not round-trip");
      break;
    }
    case 4: {
      absl::StatusOr<std::vector<v1::Member>> members = storage::DecodeSnapshotDescriptor(bytes);
      RequireTyped(members.status(), kDataLoss, "snapshot descriptor");
      if (!members.ok()) break;
      absl::StatusOr<std::vector<v1::Member>> again =
          storage::DecodeSnapshotDescriptor(storage::EncodeSnapshotDescriptor(*members));
      Require(again.ok() && MembersKey(*again) == MembersKey(*members),
              "snapshot descriptor does not round-trip");
      break;
    }
  }
  return 0;
}
