// synodctl's quota commands: subtree quotas (Cluster.QuotaGet / QuotaSet /
// QuotaDelete).
#include <string>

#include "absl/strings/str_cat.h"
#include "client/synodctl/commands.h"

namespace synod::ctl {
namespace {

std::string Limit(int64_t used, int64_t max) {
  return absl::StrCat(used, "/", max > 0 ? absl::StrCat(max) : std::string("-"));
}

}  // namespace

absl::Status CmdQuotaGet(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::vector<Quota>> quotas = (*client)->GetQuotas(ctx.args().path, ctx.call());
  if (!quotas.ok()) return quotas.status();
  if (ctx.json()) {
    Json j = Json::array();
    for (const Quota& q : *quotas) {
      Json x;
      x["path"] = q.path;
      x["max_nodes"] = q.max_nodes;
      x["max_bytes"] = q.max_bytes;
      x["used_nodes"] = q.used_nodes;
      x["used_bytes"] = q.used_bytes;
      j.push_back(x);
    }
    ctx.io().Out(JsonLine(j));
    return absl::OkStatus();
  }
  std::string out;
  for (const Quota& q : *quotas) {
    absl::StrAppend(&out, q.path, " nodes ", Limit(q.used_nodes, q.max_nodes), " bytes ",
                    Limit(q.used_bytes, q.max_bytes), "\n");
  }
  ctx.io().Out(out);
  return absl::OkStatus();
}

absl::Status CmdQuotaSet(Ctx& ctx) {
  const Args& a = ctx.args();
  if (!a.max_nodes.has_value() && !a.max_bytes.has_value()) {
    return UsageError("give --max_nodes, --max_bytes or both");
  }
  // The parser checked the ranges (0 to 2^63-1).
  const int64_t max_nodes = static_cast<int64_t>(a.max_nodes.value_or(0));
  const int64_t max_bytes = static_cast<int64_t>(a.max_bytes.value_or(0));
  if (max_nodes == 0 && max_bytes == 0) {
    return UsageError("a quota needs a limit above 0 (to remove one: synodctl quota delete)");
  }
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  return (*client)->SetQuota(a.path, max_nodes, max_bytes, ctx.call());
}

absl::Status CmdQuotaDelete(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  return (*client)->DeleteQuota(ctx.args().path, ctx.call());
}

}  // namespace synod::ctl
