#include "storage/rocks_records.h"

#include "base/status_macros.h"
#include "storage/cluster_settings.h"
#include "storage/format.h"

namespace synod::storage::rocks_records {

std::string EncodeMeta(const StoreMeta& meta) {
  std::string out;
  keys::AppendBigEndian64(&out, meta.applied_index);
  keys::AppendBigEndian64(&out, meta.digest);
  keys::AppendBigEndian64(&out, meta.compact_revision);
  if (meta.settings.has_value()) out.append(EncodeSettings(*meta.settings));
  return out;
}

absl::Status DecodeMeta(std::string_view in, StoreMeta* meta) {
  if (in.size() < 24) return absl::DataLossError("malformed state meta");
  meta->applied_index = keys::ReadBigEndian64(in);
  meta->digest = keys::ReadBigEndian64(in.substr(8));
  meta->compact_revision = keys::ReadBigEndian64(in.substr(16));
  meta->settings.reset();
  if (in.size() == 24) return absl::OkStatus();
  ClusterSettings settings;
  SYNOD_RETURN_IF_ERROR(DecodeSettings(in.substr(24), &settings));
  meta->settings = settings;
  return absl::OkStatus();
}

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<uint8_t>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
  return prefix;
}

absl::Status HistoryRecordSeq(std::string_view value, uint64_t* seq) {
  if (value.size() < kSeqBytes) return absl::DataLossError("malformed history record");
  *seq = keys::ReadBigEndian64(value);
  return absl::OkStatus();
}

absl::Status DecodeHistoryRecord(std::string_view value, uint64_t* seq, HistoryEntry* entry) {
  SYNOD_RETURN_IF_ERROR(HistoryRecordSeq(value, seq));
  return DecodeHistoryEntry(value.substr(kSeqBytes), entry);
}

bool PathFromHistoryKey(std::string_view key, std::string_view* path) {
  if (key.size() < 1 + 1 + 1 + 8 || key[0] != keys::kHistoryTag || key[key.size() - 9] != '\0') {
    return false;
  }
  *path = key.substr(1, key.size() - 1 - 1 - 8);
  return true;
}

std::string EncodeEvents(const std::vector<v1::WatchEvent>& events) {
  std::string out;
  std::string one;
  for (const v1::WatchEvent& event : events) {
    event.SerializeToString(&one);
    uint32_t n = static_cast<uint32_t>(one.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out.append(one);
  }
  return out;
}

absl::Status DecodeEvents(std::string_view in, std::vector<v1::WatchEvent>* out) {
  while (!in.empty()) {
    if (in.size() < 4) return absl::DataLossError("malformed event list");
    uint32_t n = 0;
    for (int i = 3; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(in[i]);
    if (in.size() - 4 < n) return absl::DataLossError("malformed event list");
    v1::WatchEvent& event = out->emplace_back();
    if (!event.ParseFromArray(in.data() + 4, static_cast<int>(n))) {
      return absl::DataLossError("malformed event record");
    }
    in.remove_prefix(4 + n);
  }
  return absl::OkStatus();
}

}  // namespace synod::storage::rocks_records
