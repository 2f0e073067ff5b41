#include "storage/cluster_settings.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace synod::storage {
namespace {

uint32_t ToU32(int64_t v) {
  return v < 0 || v > std::numeric_limits<uint32_t>::max() ? 0 : static_cast<uint32_t>(v);
}

}  // namespace

absl::Status ValidateSettings(const ClusterSettings& s) {
  if (s.max_data_bytes < 1 || s.max_data_bytes > kMaxDataBytesLimit) {
    return absl::InvalidArgumentError(absl::StrCat("max_data_bytes must be between 1 and ",
                                                   kMaxDataBytesLimit, ", not ", s.max_data_bytes));
  }
  if (s.max_multi_ops < 1 || s.max_multi_ops > kMaxMultiOpsLimit) {
    return absl::InvalidArgumentError(absl::StrCat("max_multi_ops must be between 1 and ",
                                                   kMaxMultiOpsLimit, ", not ", s.max_multi_ops));
  }
  if (s.history_per_node < 1 || s.history_per_node > kMaxHistoryPerNode) {
    return absl::InvalidArgumentError(absl::StrCat("history_per_node must be between 1 and ",
                                                   kMaxHistoryPerNode, ", not ",
                                                   s.history_per_node));
  }
  if (s.min_session_timeout_ms < 1 || s.max_session_timeout_ms < s.min_session_timeout_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("session timeouts must satisfy 1 <= min <= max, not min ",
                     s.min_session_timeout_ms, " max ", s.max_session_timeout_ms));
  }
  if (s.max_ephemerals_per_session < 1 ||
      s.max_ephemerals_per_session > kMaxEphemeralsPerSessionLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_ephemerals_per_session must be between 1 and ",
                     kMaxEphemeralsPerSessionLimit, ", not ", s.max_ephemerals_per_session));
  }
  return absl::OkStatus();
}

ClusterSettings MergeSettings(const ClusterSettings& base, const v1::ClusterSettings& change) {
  ClusterSettings out = base;
  const ClusterSettings given = FromProto(change);
  if (change.max_data_bytes() != 0) out.max_data_bytes = given.max_data_bytes;
  if (change.max_multi_ops() != 0) out.max_multi_ops = given.max_multi_ops;
  if (change.history_per_node() != 0) out.history_per_node = given.history_per_node;
  if (change.min_session_timeout_ms() != 0) {
    out.min_session_timeout_ms = given.min_session_timeout_ms;
  }
  if (change.max_session_timeout_ms() != 0) {
    out.max_session_timeout_ms = given.max_session_timeout_ms;
  }
  if (change.max_ephemerals_per_session() != 0) {
    out.max_ephemerals_per_session = given.max_ephemerals_per_session;
  }
  return out;
}

void ToProto(const ClusterSettings& s, v1::ClusterSettings* out) {
  out->set_max_data_bytes(s.max_data_bytes);
  out->set_max_multi_ops(static_cast<int32_t>(std::min<uint32_t>(
      s.max_multi_ops, static_cast<uint32_t>(std::numeric_limits<int32_t>::max()))));
  out->set_history_per_node(static_cast<int32_t>(std::min<uint32_t>(
      s.history_per_node, static_cast<uint32_t>(std::numeric_limits<int32_t>::max()))));
  out->set_min_session_timeout_ms(s.min_session_timeout_ms);
  out->set_max_session_timeout_ms(s.max_session_timeout_ms);
  out->set_max_ephemerals_per_session(s.max_ephemerals_per_session);
}

ClusterSettings FromProto(const v1::ClusterSettings& p) {
  ClusterSettings s;
  s.max_data_bytes = p.max_data_bytes();
  s.max_multi_ops = ToU32(p.max_multi_ops());
  s.history_per_node = ToU32(p.history_per_node());
  s.min_session_timeout_ms = p.min_session_timeout_ms();
  s.max_session_timeout_ms = p.max_session_timeout_ms();
  s.max_ephemerals_per_session = p.max_ephemerals_per_session();
  return s;
}

std::string EncodeSettings(const ClusterSettings& settings) {
  v1::ClusterSettings p;
  ToProto(settings, &p);
  return p.SerializeAsString();
}

absl::Status DecodeSettings(std::string_view in, ClusterSettings* out) {
  v1::ClusterSettings p;
  if (!p.ParseFromArray(in.data(), static_cast<int>(in.size()))) {
    return absl::DataLossError("stored cluster settings do not parse");
  }
  ClusterSettings s = FromProto(p);
  if (absl::Status valid = ValidateSettings(s); !valid.ok()) {
    return absl::DataLossError(absl::StrCat("stored cluster settings: ", valid.message()));
  }
  *out = s;
  return absl::OkStatus();
}

std::string SettingsToString(const ClusterSettings& s) {
  return absl::StrCat("max_data_bytes=", s.max_data_bytes, " max_multi_ops=", s.max_multi_ops,
                      " history_per_node=", s.history_per_node,
                      " min_session_timeout_ms=", s.min_session_timeout_ms,
                      " max_session_timeout_ms=", s.max_session_timeout_ms,
                      " max_ephemerals_per_session=", s.max_ephemerals_per_session);
}

}  // namespace synod::storage
