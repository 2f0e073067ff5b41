// synodctl's settings commands: the cluster settings recorded in the log
// (Cluster.SettingsGet / SettingsSet).
#include <string>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "client/synodctl/commands.h"
#include "client/synodctl/json.h"

namespace synod::ctl {
namespace {

absl::Status PrintSettings(Ctx& ctx, const ClusterSettings& s) {
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject()
        .Field("max_data_bytes", static_cast<int64_t>(s.max_data_bytes))
        .Field("max_multi_ops", static_cast<int64_t>(s.max_multi_ops))
        .Field("history_per_node", static_cast<int64_t>(s.history_per_node))
        .Field("min_session_timeout_ms", static_cast<int64_t>(s.min_session_timeout_ms))
        .Field("max_session_timeout_ms", static_cast<int64_t>(s.max_session_timeout_ms))
        .Field("recorded", s.recorded)
        .Field("revision", s.revision)
        .EndObject();
    ctx.io().Out(j.str() + "\n");
    return absl::OkStatus();
  }
  ctx.io().Out(absl::StrCat("max_data_bytes ", s.max_data_bytes, "\nmax_multi_ops ",
                            s.max_multi_ops, "\nhistory_per_node ", s.history_per_node,
                            "\nmin_session_timeout_ms ", s.min_session_timeout_ms,
                            "\nmax_session_timeout_ms ", s.max_session_timeout_ms,
                            s.recorded ? "" : "\n(defaults: no leader has recorded settings yet)",
                            "\n"));
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
  ClusterSettings change;
  bool any = false;
  auto take = [&ctx, &any](const char* name, int64_t max, auto* field) -> absl::Status {
    if (!ctx.args().Has(name)) return absl::OkStatus();
    absl::StatusOr<uint64_t> v = ParseUintFlag(absl::StrCat("--", name), ctx.args().Get(name));
    if (!v.ok() || *v == 0 || *v > static_cast<uint64_t>(max)) {
      return UsageError(absl::StrCat("--", name, " must be between 1 and ", max));
    }
    *field = static_cast<std::remove_pointer_t<decltype(field)>>(*v);
    any = true;
    return absl::OkStatus();
  };
  constexpr int64_t kInt32 = 0x7fffffff;
  constexpr int64_t kInt64 = 0x7fffffffffffffff;
  for (absl::Status s : {take("max_data_bytes", kInt64, &change.max_data_bytes),
                         take("max_multi_ops", kInt32, &change.max_multi_ops),
                         take("history_per_node", kInt32, &change.history_per_node),
                         take("min_session_timeout_ms", kInt64, &change.min_session_timeout_ms),
                         take("max_session_timeout_ms", kInt64, &change.max_session_timeout_ms)}) {
    if (!s.ok()) return s;
  }
  if (!any) return UsageError("give at least one setting to change");
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<ClusterSettings> s = (*client)->SetSettings(change, ctx.call());
  if (!s.ok()) return s.status();
  return PrintSettings(ctx, *s);
}

}  // namespace synod::ctl
