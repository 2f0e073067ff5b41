// ClusterSettings: the limits that change the outcome of a command (node
// data size, ops per multi, versions kept per node, session timeout
// bounds, ephemeral nodes per session), as the replicated state records
// them.
//
// They reach the state only through the log (SetSettingsCommand, see
// command.proto) or a snapshot, never from a replica's flags: apply is a
// function of the log alone. A state that records none yet (a new cluster
// before its first leader recorded its flags) applies with the compiled
// defaults below, alike on every replica.
//
// A plain value; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "synod/v1/command.pb.h"

namespace synod::storage {

struct ClusterSettings {
  int64_t max_data_bytes = 1 << 20;
  uint32_t max_multi_ops = 1000;
  // Versions kept per path (current one and tombstones included). Fixed
  // once recorded: the RocksDB store lays each path's history out in a ring
  // of this many slots (format.h).
  uint32_t history_per_node = 10;
  int64_t min_session_timeout_ms = 4000;
  int64_t max_session_timeout_ms = 40000;
  // A session's ephemerals are held by the leader's memory of the session
  // and all go in one command when it ends: bounded so that one client
  // cannot make that command (and its watch events) unbounded.
  int64_t max_ephemerals_per_session = 10000;

  bool operator==(const ClusterSettings&) const = default;
};

// Bounds ValidateSettings enforces.
inline constexpr int64_t kMaxDataBytesLimit = 64 << 20;
inline constexpr uint32_t kMaxMultiOpsLimit = 100000;
inline constexpr uint32_t kMaxHistoryPerNode = 100000;
inline constexpr int64_t kMaxEphemeralsPerSessionLimit = 1000000;

// InvalidArgument, naming the field, unless every value is in range:
// 1 <= max_data_bytes <= kMaxDataBytesLimit, 1 <= max_multi_ops <=
// kMaxMultiOpsLimit, 1 <= history_per_node <= kMaxHistoryPerNode,
// 1 <= min_session_timeout_ms <= max_session_timeout_ms,
// 1 <= max_ephemerals_per_session <= kMaxEphemeralsPerSessionLimit.
absl::Status ValidateSettings(const ClusterSettings& settings);

// `base` with each non-zero field of `change` taken instead. A negative
// field is kept as given, so ValidateSettings refuses it.
ClusterSettings MergeSettings(const ClusterSettings& base, const v1::ClusterSettings& change);

void ToProto(const ClusterSettings& settings, v1::ClusterSettings* out);
// Fields out of their C++ type's range come out as 0 (refused by
// ValidateSettings).
ClusterSettings FromProto(const v1::ClusterSettings& settings);

// The settings as stored (store meta, snapshot header): a serialized
// v1::ClusterSettings. Decode errors: DataLoss (does not parse, or not
// valid).
std::string EncodeSettings(const ClusterSettings& settings);
absl::Status DecodeSettings(std::string_view in, ClusterSettings* out);

// "max_data_bytes=... max_multi_ops=..." for logs and errors.
std::string SettingsToString(const ClusterSettings& settings);

}  // namespace synod::storage
