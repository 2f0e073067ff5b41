// The cluster settings in apply (apply.h): the limits they set
// (EffectiveLimits) and the SetSettingsCommand that records them.
#include <optional>

#include "storage/apply_internal.h"
#include "storage/cluster_settings.h"

namespace synod::storage {

ApplyLimits EffectiveLimits(const ApplyLimits& limits, const StoreMeta& meta) {
  ApplyLimits out = limits;
  if (!meta.settings.has_value()) return out;
  const ClusterSettings& s = *meta.settings;
  out.max_data_bytes = s.max_data_bytes;
  out.max_multi_ops = s.max_multi_ops;
  out.history_per_node = s.history_per_node;
  out.min_session_timeout_ms = s.min_session_timeout_ms;
  out.max_session_timeout_ms = s.max_session_timeout_ms;
  out.max_ephemerals_per_session = s.max_ephemerals_per_session;
  return out;
}

namespace apply_internal {

// Records the settings a SetSettingsCommand asks for (see apply.h).
void ApplySetSettings(const ApplyLimits& limits, const v1::SetSettingsCommand& set, Overlay* st,
                      v1::CommandResult* result) {
  const std::optional<ClusterSettings>& recorded = st->meta().settings;
  ClusterSettings current;
  current.max_data_bytes = limits.max_data_bytes;
  current.max_multi_ops = static_cast<uint32_t>(limits.max_multi_ops);
  current.history_per_node = limits.history_per_node;
  current.min_session_timeout_ms = limits.min_session_timeout_ms;
  current.max_session_timeout_ms = limits.max_session_timeout_ms;
  current.max_ephemerals_per_session = limits.max_ephemerals_per_session;
  if (set.bootstrap() && recorded.has_value()) {
    // The cluster has its settings: a later leader's bootstrap is void.
    result->set_code(v1::OK);
    ToProto(*recorded, result->mutable_settings());
    return;
  }
  const ClusterSettings next =
      set.bootstrap() ? FromProto(set.settings()) : MergeSettings(current, set.settings());
  // The RocksDB store's history rings are laid out for the bound: it is set
  // once, when the cluster records its first settings.
  if ((!set.bootstrap() && next.history_per_node != current.history_per_node) ||
      !ValidateSettings(next).ok()) {
    result->set_code(v1::INVALID_ARGUMENT);
    return;
  }
  st->SetSettings(next);
  result->set_code(v1::OK);
  ToProto(next, result->mutable_settings());
}

}  // namespace apply_internal
}  // namespace synod::storage
