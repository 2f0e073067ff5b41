// Subtree quotas (command.proto Quota, QuotaState): ZooKeeper's quotas on
// a path's node count and data bytes, enforced as hard limits. Here are the
// rules on a QuotaState alone: which quotas a path falls under, whether a
// change fits them, and how usage moves with a change. The overlay keeps
// usage in step with node writes (storage/overlay.h); apply refuses a create
// or set that does not fit (QUOTA_EXCEEDED) and records quota commands
// (apply_quota.cc).
//
// Plain functions; no thread rules of their own.
#pragma once

#include <cstdint>
#include <string_view>

#include "synod/v1/command.pb.h"

namespace synod::storage {

// Most quotas a cluster keeps: the state is copied when a batch changes
// usage under one, and travels whole in every snapshot header.
inline constexpr int kMaxQuotas = 1000;

// The index of `path`'s own quota in `state` (quotas sorted by path), or -1.
int FindQuota(const v1::QuotaState& state, std::string_view path);

// True if some quota of `state` is at `path` or one of its ancestors.
bool UnderQuota(const v1::QuotaState& state, std::string_view path);

// The first quota at or above `path` (from the root down) that a change of
// `nodes` nodes and `bytes` data bytes under it would take over a limit,
// or null. Only growth counts: a dimension whose delta is <= 0 always fits.
const v1::Quota* ExceededQuota(const v1::QuotaState& state, std::string_view path, int64_t nodes,
                               int64_t bytes);

// Adds the deltas to the usage of every quota at or above `path`.
void AddUsage(v1::QuotaState* state, std::string_view path, int64_t nodes, int64_t bytes);

// Puts `quota` (limits and usage) into `state` in path order, replacing the
// one at its path.
void PutQuota(v1::QuotaState* state, v1::Quota quota);

}  // namespace synod::storage
