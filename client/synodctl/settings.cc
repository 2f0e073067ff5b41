// synodctl's settings commands: the cluster settings recorded in the log
// (Cluster.SettingsGet / SettingsSet).
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "client/synodctl/commands.h"

namespace synod::ctl {
namespace {

absl::Status PrintSettings(Ctx& ctx, const ClusterSettings& s) {
  if (ctx.json()) {
    Json j;
    j["max_data_bytes"] = static_cast<int64_t>(s.max_data_bytes);
    j["max_multi_ops"] = static_cast<int64_t>(s.max_multi_ops);
    j["history_per_node"] = static_cast<int64_t>(s.history_per_node);
    j["min_session_timeout_ms"] = static_cast<int64_t>(s.min_session_timeout_ms);
    j["max_session_timeout_ms"] = static_cast<int64_t>(s.max_session_timeout_ms);
    j["max_ephemerals_per_session"] = static_cast<int64_t>(s.max_ephemerals_per_session);
    j["recorded"] = s.recorded;
    j["revision"] = s.revision;
    ctx.io().Out(JsonLine(j));
    return absl::OkStatus();
  }
  ctx.io().Out(
      absl::StrCat("max_data_bytes ", s.max_data_bytes, "\nmax_multi_ops ", s.max_multi_ops,
                   "\nhistory_per_node ", s.history_per_node, "\nmin_session_timeout_ms ",
                   s.min_session_timeout_ms, "\nmax_session_timeout_ms ", s.max_session_timeout_ms,
                   "\nmax_ephemerals_per_session ", s.max_ephemerals_per_session,
                   s.recorded ? "" : "\n(defaults: no leader has recorded settings yet)", "\n"));
  return absl::OkStatus();
}

}  // namespace

absl::Status CmdSettingsGet(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<ClusterSettings> s = (*client)->GetSettings(ctx.call());
  if (!s.ok()) return s.status();
  return PrintSettings(ctx, *s);
}

absl::Status CmdSettingsSet(Ctx& ctx) {
  // The parser (cli.cc) checked each value's range.
  ClusterSettings change;
  bool any = false;
  auto take = [&any](const std::optional<uint64_t>& flag, auto* field) {
    if (!flag.has_value()) return;
    *field = static_cast<std::remove_pointer_t<decltype(field)>>(*flag);
    any = true;
  };
  const Args& a = ctx.args();
  take(a.max_data_bytes, &change.max_data_bytes);
  take(a.max_multi_ops, &change.max_multi_ops);
  take(a.history_per_node, &change.history_per_node);
  take(a.min_session_timeout_ms, &change.min_session_timeout_ms);
  take(a.max_session_timeout_ms, &change.max_session_timeout_ms);
  take(a.max_ephemerals_per_session, &change.max_ephemerals_per_session);
  if (!any) return UsageError("give at least one setting to change");
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<ClusterSettings> s = (*client)->SetSettings(change, ctx.call());
  if (!s.ok()) return s.status();
  return PrintSettings(ctx, *s);
}

}  // namespace synod::ctl
