// The limits apply enforces beyond ACLs (apply.h): subtree quotas
// (storage/quota.h) with their commands, and the cluster's per-session
// ephemeral limit. Quota commands follow the auth commands' rule: while
// auth is enabled only a superuser caller may send them.
#include <memory>
#include <utility>

#include "base/status_macros.h"
#include "storage/apply_internal.h"
#include "storage/path.h"
#include "storage/quota.h"

namespace synod::storage::apply_internal {
namespace {

bool AuthEnabled(const Overlay& st) { return st.meta().auth != nullptr && st.meta().auth->enabled(); }

}  // namespace

absl::StatusOr<v1::ErrorCode> CheckQuotas(Overlay* st, const OpContext& ctx,
                                          std::string_view path, NodeKind kind, int64_t nodes,
                                          int64_t bytes) {
  if (st->meta().quotas != nullptr &&
      ExceededQuota(*st->meta().quotas, path, nodes, bytes) != nullptr) {
    return v1::QUOTA_EXCEEDED;
  }
  if (kind != NodeKind::kEphemeral || nodes <= 0) return v1::OK;
  SYNOD_ASSIGN_OR_RETURN(const std::optional<Session> session, st->GetSession(ctx.session_id));
  // No session: the create is refused for that reason before it comes here.
  if (session.has_value() &&
      static_cast<int64_t>(session->ephemerals) + nodes > ctx.limits.max_ephemerals_per_session) {
    return v1::QUOTA_EXCEEDED;
  }
  return v1::OK;
}

absl::Status ApplyQuotaSet(const v1::Command& command, Overlay* st, v1::CommandResult* result) {
  const v1::QuotaSetCommand& set = command.quota_set();
  if (AuthEnabled(*st) && !command.caller().superuser()) {
    result->set_code(v1::PERMISSION_DENIED);
    return absl::OkStatus();
  }
  if (!IsValidPath(set.path())) {
    result->set_code(v1::INVALID_PATH);
    return absl::OkStatus();
  }
  if (set.max_nodes() < 0 || set.max_bytes() < 0 ||
      (set.max_nodes() == 0 && set.max_bytes() == 0)) {
    result->set_code(v1::INVALID_ARGUMENT);
    return absl::OkStatus();
  }
  const v1::QuotaState& current =
      st->meta().quotas != nullptr ? *st->meta().quotas : v1::QuotaState::default_instance();
  const int at = FindQuota(current, set.path());
  v1::Quota quota;
  if (at >= 0) {
    quota = current.quotas(at);  // keeps its usage
  } else {
    if (current.quotas_size() >= kMaxQuotas) {
      result->set_code(v1::INVALID_ARGUMENT);
      return absl::OkStatus();
    }
    quota.set_path(set.path());
    int64_t nodes = 0;
    int64_t bytes = 0;
    SYNOD_RETURN_IF_ERROR(st->SubtreeUsage(set.path(), &nodes, &bytes));
    quota.set_used_nodes(nodes);
    quota.set_used_bytes(bytes);
  }
  quota.set_max_nodes(set.max_nodes());
  quota.set_max_bytes(set.max_bytes());
  auto next = std::make_shared<v1::QuotaState>(current);
  PutQuota(next.get(), std::move(quota));
  st->SetQuotas(std::move(next));
  result->set_code(v1::OK);
  return absl::OkStatus();
}

void ApplyQuotaDelete(const v1::Command& command, Overlay* st, v1::CommandResult* result) {
  const std::string& path = command.quota_delete().path();
  if (AuthEnabled(*st) && !command.caller().superuser()) {
    result->set_code(v1::PERMISSION_DENIED);
    return;
  }
  if (!IsValidPath(path)) {
    result->set_code(v1::INVALID_PATH);
    return;
  }
  const int at = st->meta().quotas != nullptr ? FindQuota(*st->meta().quotas, path) : -1;
  if (at < 0) {
    result->set_code(v1::NO_NODE);
    return;
  }
  std::shared_ptr<v1::QuotaState> next;
  if (st->meta().quotas->quotas_size() > 1) {
    next = std::make_shared<v1::QuotaState>(*st->meta().quotas);
    next->mutable_quotas()->DeleteSubrange(at, 1);
  }
  st->SetQuotas(std::move(next));  // null once the last one goes
  result->set_code(v1::OK);
}

}  // namespace synod::storage::apply_internal
