// ApplyCommand (apply.h): the dispatch of commands, the tree ops (create,
// set, delete, check; multi all or nothing), TTL and container removal, and
// history compaction. ACLs and setACL: apply_acl.cc; sessions:
// apply_sessions.cc; cluster settings: apply_settings.cc; users and the
// auth switch: apply_auth.cc; batches of entries (Applier): applier.cc.
#include "storage/apply.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/apply_internal.h"
#include "storage/path.h"

namespace synod::storage {
namespace apply_internal {
namespace {

using v1::ErrorCode;

// Adds history entry number `seq` of `path` and drops the one that falls out
// of the per-node bound. Seqs of a path are consecutive, so the dropped one
// is known without reading.
void AppendHistory(Overlay* st, const ApplyLimits& limits, std::string_view path, uint64_t seq,
                   HistoryEntry entry) {
  st->PutHistory(path, seq, std::move(entry));
  uint32_t keep = std::max<uint32_t>(limits.history_per_node, 1);
  if (seq > keep) st->DeleteHistory(path, seq - keep);
}

}  // namespace

absl::Status RemoveNode(Overlay* st, const OpContext& ctx, std::string_view path,
                        const Node& node) {
  HistoryEntry tombstone;
  tombstone.revision = ctx.revision;
  tombstone.deleted = true;
  tombstone.stat = node.stat;
  tombstone.acl = node.acl;
  AppendHistory(st, ctx.limits, path, node.history_seq + 1, std::move(tombstone));
  st->AddGrave(Grave{ctx.revision, std::string(path), node.history_seq + 1});
  SYNOD_RETURN_IF_ERROR(st->DeleteNode(path));

  std::string_view parent_path = ParentPath(path);
  absl::StatusOr<std::optional<Node>> parent = st->GetNode(parent_path);
  if (!parent.ok()) return parent.status();
  if (!parent->has_value()) return absl::DataLossError("node without parent");
  Node updated = std::move(**parent);
  updated.stat.cversion += 1;
  updated.stat.pzxid = ctx.revision;
  updated.stat.num_children -= 1;
  NodeStat parent_stat = updated.stat;
  Acl parent_acl = updated.acl;
  SYNOD_RETURN_IF_ERROR(st->PutNode(parent_path, std::move(updated)));

  AddEvent(st, v1::EVENT_NODE_DELETED, path, ctx.revision, nullptr, node.acl);
  AddEvent(st, v1::EVENT_NODE_CHILDREN_CHANGED, parent_path, ctx.revision, &parent_stat,
           parent_acl);
  ctx.lost_child->insert(std::string(parent_path));
  return absl::OkStatus();
}

absl::Status RemoveEmptyContainers(Overlay* st, const OpContext& ctx) {
  while (!ctx.lost_child->empty()) {
    auto last = std::prev(ctx.lost_child->end());
    std::string path = std::move(*last);
    ctx.lost_child->erase(last);
    absl::StatusOr<std::optional<Node>> node = st->GetNode(path);
    if (!node.ok()) return node.status();
    if (!node->has_value()) continue;
    const Node& n = **node;
    // cversion > 0: it has had a child, so it is not a fresh container.
    if (n.kind == NodeKind::kContainer && n.stat.num_children == 0 && n.stat.cversion > 0) {
      SYNOD_RETURN_IF_ERROR(RemoveNode(st, ctx, path, n));
    }
  }
  return absl::OkStatus();
}

namespace {

std::string SequenceSuffix(int64_t counter) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%010lld", static_cast<long long>(counter));
  return buf;
}

absl::Status DoCreate(Overlay* st, const OpContext& ctx, const v1::CreateOp& op, v1::OpResult* r) {
  NodeKind kind = NodeKind::kPersistent;
  bool sequential = false;
  bool ttl_mode = false;
  switch (op.mode()) {
    case v1::PERSISTENT:
      break;
    case v1::EPHEMERAL:
      kind = NodeKind::kEphemeral;
      break;
    case v1::PERSISTENT_SEQUENTIAL:
      sequential = true;
      break;
    case v1::EPHEMERAL_SEQUENTIAL:
      kind = NodeKind::kEphemeral;
      sequential = true;
      break;
    case v1::CONTAINER:
      kind = NodeKind::kContainer;
      break;
    case v1::PERSISTENT_WITH_TTL:
      kind = NodeKind::kTtl;
      ttl_mode = true;
      break;
    case v1::PERSISTENT_SEQUENTIAL_WITH_TTL:
      kind = NodeKind::kTtl;
      ttl_mode = true;
      sequential = true;
      break;
    default:
      r->set_code(v1::INVALID_ARGUMENT);
      return absl::OkStatus();
  }
  if ((ttl_mode ? op.ttl_ms() <= 0 : op.ttl_ms() != 0) || (op.null_data() && !op.data().empty())) {
    r->set_code(v1::INVALID_ARGUMENT);
    return absl::OkStatus();
  }
  // A sequential path gets a suffix without '/', so the parent and the
  // validity of the final path are known from a placeholder suffix.
  const std::string requested = sequential ? op.path() + "0000000000" : op.path();
  if (!IsValidPath(requested) || InSubtree(requested, kZooKeeperSubtree)) {
    r->set_code(v1::INVALID_PATH);
    return absl::OkStatus();
  }
  if (static_cast<int64_t>(op.data().size()) > ctx.limits.max_data_bytes) {
    r->set_code(v1::TOO_LARGE);
    return absl::OkStatus();
  }
  if (kind == NodeKind::kEphemeral && ctx.session_id == 0) {
    r->set_code(v1::EPHEMERAL_NEEDS_SESSION);
    return absl::OkStatus();
  }
  if (requested == "/") {
    r->set_code(v1::NODE_EXISTS);
    return absl::OkStatus();
  }
  // ZooKeeper's order (PrepRequestProcessor): the given ACL (fixupACL),
  // the parent (NO_NODE), PERM_CREATE on it, then the node itself.
  absl::StatusOr<Acl> acl = ResolveGivenAcl(ctx, op.acl());
  if (!acl.ok()) {
    r->set_code(v1::INVALID_ACL);
    return absl::OkStatus();
  }
  std::string parent_path(ParentPath(requested));
  absl::StatusOr<std::optional<Node>> parent = st->GetNode(parent_path);
  if (!parent.ok()) return parent.status();
  if (!parent->has_value()) {
    r->set_code(v1::NO_NODE);
    return absl::OkStatus();
  }
  Node parent_node = std::move(**parent);
  if (!Allowed(ctx, parent_node.acl, kPermCreate)) {
    r->set_code(v1::PERMISSION_DENIED);
    return absl::OkStatus();
  }
  // As ZooKeeper: the suffix is the parent's cversion before this create.
  std::string path = sequential ? op.path() + SequenceSuffix(parent_node.stat.cversion) : requested;
  absl::StatusOr<std::optional<Node>> existing = st->GetNode(path);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    r->set_code(v1::NODE_EXISTS);
    return absl::OkStatus();
  }
  if (parent_node.kind == NodeKind::kEphemeral) {
    r->set_code(v1::NO_CHILDREN_FOR_EPHEMERALS);
    return absl::OkStatus();
  }
  SYNOD_ASSIGN_OR_RETURN(
      const v1::ErrorCode quota,
      CheckQuotas(st, ctx, path, kind, 1, static_cast<int64_t>(op.data().size())));
  if (quota != v1::OK) {
    r->set_code(quota);
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> last_seq = st->LastHistorySeq(path);
  if (!last_seq.ok()) return last_seq.status();

  Node node;
  node.kind = kind;
  node.ttl_ms = op.ttl_ms();
  node.history_seq = *last_seq + 1;
  node.acl = *std::move(acl);
  node.data = op.data();
  node.data_null = op.null_data();
  NodeStat& s = node.stat;
  s.czxid = s.mzxid = s.pzxid = ctx.revision;
  s.ctime = s.mtime = ctx.time_ms;
  s.ephemeral_owner = kind == NodeKind::kEphemeral ? ctx.session_id : 0;
  s.data_length = static_cast<int64_t>(node.data.size());
  NodeStat stat = s;

  HistoryEntry entry;
  entry.revision = ctx.revision;
  entry.stat = stat;
  entry.acl = node.acl;
  entry.data = node.data;
  AppendHistory(st, ctx.limits, path, node.history_seq, std::move(entry));
  AddEvent(st, v1::EVENT_NODE_CREATED, path, ctx.revision, &stat, node.acl);
  SYNOD_RETURN_IF_ERROR(st->PutNode(path, std::move(node)));

  parent_node.stat.cversion += 1;
  parent_node.stat.pzxid = ctx.revision;
  parent_node.stat.num_children += 1;
  NodeStat parent_stat = parent_node.stat;
  AddEvent(st, v1::EVENT_NODE_CHILDREN_CHANGED, parent_path, ctx.revision, &parent_stat,
           parent_node.acl);
  SYNOD_RETURN_IF_ERROR(st->PutNode(parent_path, std::move(parent_node)));

  r->set_code(v1::OK);
  r->set_path(path);
  ToProto(stat, r->mutable_stat());
  return absl::OkStatus();
}

absl::Status DoSet(Overlay* st, const OpContext& ctx, const v1::SetOp& op, v1::OpResult* r) {
  if (!IsValidPath(op.path())) {
    r->set_code(v1::INVALID_PATH);
    return absl::OkStatus();
  }
  if (static_cast<int64_t>(op.data().size()) > ctx.limits.max_data_bytes) {
    r->set_code(v1::TOO_LARGE);
    return absl::OkStatus();
  }
  if (op.null_data() && !op.data().empty()) {
    r->set_code(v1::INVALID_ARGUMENT);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Node>> found = st->GetNode(op.path());
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    r->set_code(v1::NO_NODE);
    return absl::OkStatus();
  }
  Node node = std::move(**found);
  if (!Allowed(ctx, node.acl, kPermWrite)) {
    r->set_code(v1::PERMISSION_DENIED);
    return absl::OkStatus();
  }
  if (!VersionMatches(op.has_expected_version(), op.expected_version(), node.stat.version)) {
    r->set_code(v1::BAD_VERSION);
    return absl::OkStatus();
  }
  SYNOD_ASSIGN_OR_RETURN(const v1::ErrorCode quota,
                         CheckQuotas(st, ctx, op.path(), NodeKind::kPersistent, 0,
                                     static_cast<int64_t>(op.data().size()) -
                                         static_cast<int64_t>(node.data.size())));
  if (quota != v1::OK) {
    r->set_code(quota);
    return absl::OkStatus();
  }
  node.data = op.data();
  node.data_null = op.null_data();
  node.stat.mzxid = ctx.revision;
  node.stat.mtime = ctx.time_ms;
  node.stat.version += 1;
  node.stat.data_length = static_cast<int64_t>(node.data.size());
  node.history_seq += 1;
  NodeStat stat = node.stat;

  HistoryEntry entry;
  entry.revision = ctx.revision;
  entry.stat = stat;
  entry.acl = node.acl;
  entry.data = node.data;
  AppendHistory(st, ctx.limits, op.path(), node.history_seq, std::move(entry));
  AddEvent(st, v1::EVENT_NODE_DATA_CHANGED, op.path(), ctx.revision, &stat, node.acl);
  SYNOD_RETURN_IF_ERROR(st->PutNode(op.path(), std::move(node)));

  r->set_code(v1::OK);
  ToProto(stat, r->mutable_stat());
  return absl::OkStatus();
}

absl::Status DoDelete(Overlay* st, const OpContext& ctx, const v1::DeleteOp& op, v1::OpResult* r) {
  if (!IsValidPath(op.path())) {
    r->set_code(v1::INVALID_PATH);
    return absl::OkStatus();
  }
  if (op.path() == "/") {
    r->set_code(v1::INVALID_ARGUMENT);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Node>> found = st->GetNode(op.path());
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    r->set_code(v1::NO_NODE);
    return absl::OkStatus();
  }
  const Node& node = **found;
  // As ZooKeeper: the node must exist, then PERM_DELETE on its parent.
  absl::StatusOr<std::optional<Node>> parent = st->GetNode(ParentPath(op.path()));
  if (!parent.ok()) return parent.status();
  if (!parent->has_value()) return absl::DataLossError("node without parent");
  if (!Allowed(ctx, (*parent)->acl, kPermDelete)) {
    r->set_code(v1::PERMISSION_DENIED);
    return absl::OkStatus();
  }
  if (!VersionMatches(op.has_expected_version(), op.expected_version(), node.stat.version)) {
    r->set_code(v1::BAD_VERSION);
    return absl::OkStatus();
  }
  if (node.stat.num_children > 0) {
    r->set_code(v1::NOT_EMPTY);
    return absl::OkStatus();
  }
  SYNOD_RETURN_IF_ERROR(RemoveNode(st, ctx, op.path(), node));
  r->set_code(v1::OK);
  return absl::OkStatus();
}

absl::Status DoCheck(Overlay* st, const OpContext& ctx, const v1::CheckOp& op,
                     v1::OpResult* r) {
  if (!IsValidPath(op.path())) {
    r->set_code(v1::INVALID_PATH);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Node>> found = st->GetNode(op.path());
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    r->set_code(v1::NO_NODE);
    return absl::OkStatus();
  }
  if (!Allowed(ctx, (*found)->acl, kPermRead)) {
    r->set_code(v1::PERMISSION_DENIED);
    return absl::OkStatus();
  }
  if (!VersionMatches(op.has_expected_version(), op.expected_version(), (*found)->stat.version)) {
    r->set_code(v1::BAD_VERSION);
    return absl::OkStatus();
  }
  r->set_code(v1::OK);
  ToProto((*found)->stat, r->mutable_stat());
  return absl::OkStatus();
}

// Applies one op; every check comes before the first write, so an op that
// fails has changed nothing.
absl::Status DoOp(Overlay* st, const OpContext& ctx, const v1::Op& op, v1::OpResult* r) {
  switch (op.op_case()) {
    case v1::Op::kCreate:
      return DoCreate(st, ctx, op.create(), r);
    case v1::Op::kSet:
      return DoSet(st, ctx, op.set(), r);
    case v1::Op::kDelete:
      return DoDelete(st, ctx, op.delete_(), r);
    case v1::Op::kCheck:
      return DoCheck(st, ctx, op.check(), r);
    case v1::Op::kSetAcl:
      return DoSetAcl(st, ctx, op.set_acl(), r);
    case v1::Op::OP_NOT_SET:
      break;
  }
  r->set_code(v1::INVALID_ARGUMENT);
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyTxn(const ApplyLimits& limits, uint64_t revision, const v1::Command& command,
                      Overlay* st, v1::CommandResult* result) {
  const v1::TxnCommand& txn = command.txn();
  if (!txn.is_multi() && txn.ops_size() != 1) {
    result->set_code(v1::INVALID_ARGUMENT);
    return absl::OkStatus();
  }
  if (static_cast<size_t>(txn.ops_size()) > limits.max_multi_ops) {
    result->set_code(v1::TOO_MANY_OPS);
    return absl::OkStatus();
  }
  std::set<std::string> lost_child;
  OpContext ctx{limits, revision, command.leader_time_ms(), command.write().session_id(),
                &command.caller(), &lost_child};
  if (!txn.is_multi()) {
    // One op fails before it writes anything: no nested overlay needed.
    v1::OpResult* r = result->add_results();
    SYNOD_RETURN_IF_ERROR(DoOp(st, ctx, txn.ops(0), r));
    result->set_code(r->code());
    if (r->code() != v1::OK) return absl::OkStatus();
    return RemoveEmptyContainers(st, ctx);
  }
  Overlay scratch(st);
  for (int i = 0; i < txn.ops_size(); ++i) {
    v1::OpResult* r = result->add_results();
    SYNOD_RETURN_IF_ERROR(DoOp(&scratch, ctx, txn.ops(i), r));
    if (r->code() == v1::OK) continue;
    // All or nothing: drop the scratch overlay and report as ZooKeeper.
    ErrorCode failed = r->code();
    result->set_code(failed);
    for (int j = 0; j < txn.ops_size(); ++j) {
      v1::OpResult* other =
          j < result->results_size() ? result->mutable_results(j) : result->add_results();
      if (j == i) continue;
      other->Clear();
      other->set_code(j < i ? v1::ROLLED_BACK : v1::RUNTIME_INCONSISTENCY);
    }
    return absl::OkStatus();
  }
  scratch.MergeInto(st);
  result->set_code(v1::OK);
  return RemoveEmptyContainers(st, ctx);
}

namespace {

absl::Status ApplyDeleteExpired(const ApplyLimits& limits, uint64_t revision,
                                const v1::Command& command, Overlay* st,
                                v1::CommandResult* result) {
  std::set<std::string> lost_child;
  OpContext ctx{limits, revision, command.leader_time_ms(), 0, nullptr, &lost_child};
  for (const std::string& path : command.delete_expired().paths()) {
    v1::OpResult* r = result->add_results();
    r->set_path(path);
    if (!IsValidPath(path) || path == "/") {
      r->set_code(v1::INVALID_PATH);
      continue;
    }
    absl::StatusOr<std::optional<Node>> found = st->GetNode(path);
    if (!found.ok()) return found.status();
    if (!found->has_value()) {
      r->set_code(v1::NO_NODE);
      continue;
    }
    const Node& node = **found;
    if (node.stat.num_children > 0) {
      r->set_code(v1::NOT_EMPTY);
      continue;
    }
    bool expired = ExpiredAt(node, command.leader_time_ms());
    if (!expired) {
      r->set_code(v1::BAD_VERSION);
      continue;
    }
    SYNOD_RETURN_IF_ERROR(RemoveNode(st, ctx, path, node));
    r->set_code(v1::OK);
  }
  result->set_code(v1::OK);
  return RemoveEmptyContainers(st, ctx);
}

// Drops the history of paths deleted at or below the compaction revision and
// not created again: no read at or above that revision can see any of it.
absl::Status PurgeGraves(const ApplyLimits& limits, Overlay* st) {
  std::vector<Grave> graves;
  SYNOD_RETURN_IF_ERROR(
      st->ListGraves(st->meta().compact_revision, limits.purge_per_compaction, &graves));
  const uint64_t keep = std::max<uint32_t>(limits.history_per_node, 1);
  for (const Grave& grave : graves) {
    absl::StatusOr<std::optional<Node>> node = st->GetNode(grave.path);
    if (!node.ok()) return node.status();
    absl::StatusOr<uint64_t> last = st->LastHistorySeq(grave.path);
    if (!last.ok()) return last.status();
    // The per-node bound leaves at most `keep` entries, ending at the
    // tombstone.
    if (!node->has_value() && *last == grave.seq) st->DropHistory(grave.path, grave.seq, keep);
    st->RemoveGrave(grave.revision, grave.path);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace apply_internal

using apply_internal::ApplyAuthSet;
using apply_internal::ApplyCloseSession;
using apply_internal::ApplyDeleteExpired;
using apply_internal::ApplyExactlyOnce;
using apply_internal::ApplyExpireSessions;
using apply_internal::ApplyOpenSession;
using apply_internal::ApplyQuotaDelete;
using apply_internal::ApplyQuotaSet;
using apply_internal::ApplySetSettings;
using apply_internal::ApplyTxn;
using apply_internal::ApplyUserDelete;
using apply_internal::ApplyUserPut;
using apply_internal::PurgeGraves;

absl::Status ApplyCommand(const ApplyLimits& defaults, uint64_t revision,
                          const v1::Command& command, Overlay* st,
                          const std::function<std::optional<uint64_t>(uint64_t)>& digest_at,
                          v1::CommandResult* result) {
  result->Clear();
  const ApplyLimits limits = EffectiveLimits(defaults, st->meta());
  switch (command.body_case()) {
    case v1::Command::kTxn:
      if (command.write().session_id() == 0) {
        return ApplyTxn(limits, revision, command, st, result);
      }
      return ApplyExactlyOnce(limits, revision, command, st, result);
    case v1::Command::kOpenSession:
      return ApplyOpenSession(limits, revision, command, st, result);
    case v1::Command::kCloseSession:
      return ApplyCloseSession(limits, revision, command, st, result);
    case v1::Command::kExpireSessions:
      return ApplyExpireSessions(limits, revision, command, st, result);
    case v1::Command::kDeleteExpired:
      return ApplyDeleteExpired(limits, revision, command, st, result);
    case v1::Command::kDigestCheck: {
      const v1::DigestCheckCommand& check = command.digest_check();
      std::optional<uint64_t> mine = digest_at ? digest_at(check.revision()) : std::nullopt;
      result->set_code(mine.has_value() && *mine != check.digest() ? v1::DATA_LOSS : v1::OK);
      return absl::OkStatus();
    }
    case v1::Command::kCompactHistory: {
      uint64_t target = command.compact_history().revision();
      if (target > revision) {
        result->set_code(v1::INVALID_ARGUMENT);
        return absl::OkStatus();
      }
      if (target > st->meta().compact_revision) st->SetCompactRevision(target);
      result->set_code(v1::OK);
      return PurgeGraves(limits, st);
    }
    case v1::Command::kSetSettings:
      ApplySetSettings(limits, command.set_settings(), st, result);
      return absl::OkStatus();
    case v1::Command::kUserPut:
      ApplyUserPut(revision, command, st, result);
      return absl::OkStatus();
    case v1::Command::kUserDelete:
      ApplyUserDelete(command, st, result);
      return absl::OkStatus();
    case v1::Command::kAuthSet:
      ApplyAuthSet(command, st, result);
      return absl::OkStatus();
    case v1::Command::kQuotaSet:
      return ApplyQuotaSet(command, st, result);
    case v1::Command::kQuotaDelete:
      ApplyQuotaDelete(command, st, result);
      return absl::OkStatus();
    case v1::Command::BODY_NOT_SET:
      break;
  }
  result->set_code(v1::INVALID_ARGUMENT);
  return absl::OkStatus();
}

}  // namespace synod::storage
