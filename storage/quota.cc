#include "storage/quota.h"

#include <algorithm>
#include <utility>

namespace synod::storage {
namespace {

// The index of the first quota whose path is >= `path`.
int LowerBound(const v1::QuotaState& state, std::string_view path) {
  auto it = std::lower_bound(
      state.quotas().begin(), state.quotas().end(), path,
      [](const v1::Quota& q, std::string_view p) { return std::string_view(q.path()) < p; });
  return static_cast<int>(it - state.quotas().begin());
}

// Calls fn(index) for the quota of each of `path`'s ancestors that has
// one, from the root down, then for `path`'s own.
template <typename Fn>
void ForEachCovering(const v1::QuotaState& state, std::string_view path, Fn fn) {
  if (state.quotas_size() == 0) return;
  if (int i = FindQuota(state, "/"); i >= 0) fn(i);
  for (size_t slash = path.find('/', 1); path.size() > 1; slash = path.find('/', slash + 1)) {
    const std::string_view prefix = slash == std::string_view::npos ? path : path.substr(0, slash);
    if (int i = FindQuota(state, prefix); i >= 0) fn(i);
    if (slash == std::string_view::npos) break;
  }
}

}  // namespace

int FindQuota(const v1::QuotaState& state, std::string_view path) {
  const int i = LowerBound(state, path);
  return i < state.quotas_size() && state.quotas(i).path() == path ? i : -1;
}

bool UnderQuota(const v1::QuotaState& state, std::string_view path) {
  bool found = false;
  ForEachCovering(state, path, [&found](int) { found = true; });
  return found;
}

const v1::Quota* ExceededQuota(const v1::QuotaState& state, std::string_view path, int64_t nodes,
                               int64_t bytes) {
  const v1::Quota* exceeded = nullptr;
  ForEachCovering(state, path, [&](int i) {
    const v1::Quota& q = state.quotas(i);
    if (exceeded != nullptr) return;
    if ((nodes > 0 && q.max_nodes() > 0 && q.used_nodes() + nodes > q.max_nodes()) ||
        (bytes > 0 && q.max_bytes() > 0 && q.used_bytes() + bytes > q.max_bytes())) {
      exceeded = &q;
    }
  });
  return exceeded;
}

void AddUsage(v1::QuotaState* state, std::string_view path, int64_t nodes, int64_t bytes) {
  if (nodes == 0 && bytes == 0) return;
  ForEachCovering(*state, path, [&](int i) {
    v1::Quota* q = state->mutable_quotas(i);
    q->set_used_nodes(q->used_nodes() + nodes);
    q->set_used_bytes(q->used_bytes() + bytes);
  });
}

void PutQuota(v1::QuotaState* state, v1::Quota quota) {
  const int at = LowerBound(*state, quota.path());
  if (at < state->quotas_size() && state->quotas(at).path() == quota.path()) {
    *state->mutable_quotas(at) = std::move(quota);
    return;
  }
  auto* quotas = state->mutable_quotas();
  quotas->Add(std::move(quota));
  // Move the new last element into its place in path order.
  for (int i = quotas->size() - 1; i > at; --i) quotas->SwapElements(i, i - 1);
}

}  // namespace synod::storage
