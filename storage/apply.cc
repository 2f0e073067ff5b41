#include "storage/apply.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/path.h"

namespace synod::storage {
namespace {

using v1::ErrorCode;

// What one command's ops share.
struct OpContext {
  const ApplyLimits& limits;
  uint64_t revision;
  int64_t time_ms;
  uint64_t session_id;  // the writer's session (ephemeral owner), 0 if none
  // Parents that lost a child: candidates for container removal once the
  // command has succeeded.
  std::set<std::string>* lost_child;
};

bool VersionMatches(bool has_expected, int64_t expected, int64_t actual) {
  return !has_expected || expected == -1 || expected == actual;
}

void AddEvent(Overlay* st, v1::EventType type, std::string_view path, uint64_t revision,
              const NodeStat* stat) {
  v1::WatchEvent event;
  event.set_type(type);
  event.set_path(std::string(path));
  event.set_revision(revision);
  if (stat != nullptr) ToProto(*stat, event.mutable_stat());
  st->AddEvent(std::move(event));
}

// Adds history entry number `seq` of `path` and drops the one that falls out
// of the per-node bound. Seqs of a path are consecutive, so the dropped one
// is known without reading.
void AppendHistory(Overlay* st, const ApplyLimits& limits, std::string_view path, uint64_t seq,
                   HistoryEntry entry) {
  st->PutHistory(path, seq, std::move(entry));
  uint32_t keep = std::max<uint32_t>(limits.history_per_node, 1);
  if (seq > keep) st->DeleteHistory(path, seq - keep);
}

// Deletes an existing node (a leaf) with its tombstone, its parent's update
// and both events. Used by delete ops, session close/expiry, TTL and
// container removal alike.
absl::Status RemoveNode(Overlay* st, const OpContext& ctx, std::string_view path,
                        const Node& node) {
  HistoryEntry tombstone;
  tombstone.revision = ctx.revision;
  tombstone.deleted = true;
  tombstone.stat = node.stat;
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
  SYNOD_RETURN_IF_ERROR(st->PutNode(parent_path, std::move(updated)));

  AddEvent(st, v1::EVENT_NODE_DELETED, path, ctx.revision, nullptr);
  AddEvent(st, v1::EVENT_NODE_CHILDREN_CHANGED, parent_path, ctx.revision, &parent_stat);
  ctx.lost_child->insert(std::string(parent_path));
  return absl::OkStatus();
}

// Removes containers that lost their last child in this command, and their
// containing containers in turn (deepest first).
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
  if (ttl_mode ? op.ttl_ms() <= 0 : op.ttl_ms() != 0) {
    r->set_code(v1::INVALID_ARGUMENT);
    return absl::OkStatus();
  }
  // A sequential path gets a suffix without '/', so the parent and the
  // validity of the final path are known from a placeholder suffix.
  const std::string requested = sequential ? op.path() + "0000000000" : op.path();
  if (!IsValidPath(requested)) {
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
  std::string parent_path(ParentPath(requested));
  absl::StatusOr<std::optional<Node>> parent = st->GetNode(parent_path);
  if (!parent.ok()) return parent.status();
  if (!parent->has_value()) {
    r->set_code(v1::NO_NODE);
    return absl::OkStatus();
  }
  Node parent_node = std::move(**parent);
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
  absl::StatusOr<uint64_t> last_seq = st->LastHistorySeq(path);
  if (!last_seq.ok()) return last_seq.status();

  Node node;
  node.kind = kind;
  node.ttl_ms = op.ttl_ms();
  node.history_seq = *last_seq + 1;
  node.data = op.data();
  NodeStat& s = node.stat;
  s.czxid = s.mzxid = s.pzxid = ctx.revision;
  s.ctime = s.mtime = ctx.time_ms;
  s.ephemeral_owner = kind == NodeKind::kEphemeral ? ctx.session_id : 0;
  s.data_length = static_cast<int64_t>(node.data.size());
  NodeStat stat = s;

  HistoryEntry entry;
  entry.revision = ctx.revision;
  entry.stat = stat;
  entry.data = node.data;
  AppendHistory(st, ctx.limits, path, node.history_seq, std::move(entry));
  SYNOD_RETURN_IF_ERROR(st->PutNode(path, std::move(node)));

  parent_node.stat.cversion += 1;
  parent_node.stat.pzxid = ctx.revision;
  parent_node.stat.num_children += 1;
  NodeStat parent_stat = parent_node.stat;
  SYNOD_RETURN_IF_ERROR(st->PutNode(parent_path, std::move(parent_node)));

  AddEvent(st, v1::EVENT_NODE_CREATED, path, ctx.revision, &stat);
  AddEvent(st, v1::EVENT_NODE_CHILDREN_CHANGED, parent_path, ctx.revision, &parent_stat);
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
  absl::StatusOr<std::optional<Node>> found = st->GetNode(op.path());
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    r->set_code(v1::NO_NODE);
    return absl::OkStatus();
  }
  Node node = std::move(**found);
  if (!VersionMatches(op.has_expected_version(), op.expected_version(), node.stat.version)) {
    r->set_code(v1::BAD_VERSION);
    return absl::OkStatus();
  }
  node.data = op.data();
  node.stat.mzxid = ctx.revision;
  node.stat.mtime = ctx.time_ms;
  node.stat.version += 1;
  node.stat.data_length = static_cast<int64_t>(node.data.size());
  node.history_seq += 1;
  NodeStat stat = node.stat;

  HistoryEntry entry;
  entry.revision = ctx.revision;
  entry.stat = stat;
  entry.data = node.data;
  AppendHistory(st, ctx.limits, op.path(), node.history_seq, std::move(entry));
  SYNOD_RETURN_IF_ERROR(st->PutNode(op.path(), std::move(node)));

  AddEvent(st, v1::EVENT_NODE_DATA_CHANGED, op.path(), ctx.revision, &stat);
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

absl::Status DoCheck(Overlay* st, const v1::CheckOp& op, v1::OpResult* r) {
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
      return DoCheck(st, op.check(), r);
    case v1::Op::OP_NOT_SET:
      break;
  }
  r->set_code(v1::INVALID_ARGUMENT);
  return absl::OkStatus();
}

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
                &lost_child};
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

// Deletes a session's ephemerals and the session itself.
absl::Status EndSession(const ApplyLimits& limits, uint64_t revision, int64_t time_ms,
                        uint64_t session_id, Overlay* st) {
  std::vector<std::string> paths;
  SYNOD_RETURN_IF_ERROR(st->ListEphemerals(session_id, &paths));
  std::set<std::string> lost_child;
  OpContext ctx{limits, revision, time_ms, session_id, &lost_child};
  for (const std::string& path : paths) {
    absl::StatusOr<std::optional<Node>> node = st->GetNode(path);
    if (!node.ok()) return node.status();
    if (!node->has_value() || (*node)->stat.ephemeral_owner != session_id) {
      return absl::DataLossError("ephemeral index out of step with the tree");
    }
    SYNOD_RETURN_IF_ERROR(RemoveNode(st, ctx, path, **node));
  }
  st->DeleteSession(session_id);
  return RemoveEmptyContainers(st, ctx);
}

absl::Status ApplyDeleteExpired(const ApplyLimits& limits, uint64_t revision,
                                const v1::Command& command, Overlay* st,
                                v1::CommandResult* result) {
  std::set<std::string> lost_child;
  OpContext ctx{limits, revision, command.leader_time_ms(), 0, &lost_child};
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

}  // namespace

ApplyLimits EffectiveLimits(const ApplyLimits& limits, const StoreMeta& meta) {
  ApplyLimits out = limits;
  if (!meta.settings.has_value()) return out;
  const ClusterSettings& s = *meta.settings;
  out.max_data_bytes = s.max_data_bytes;
  out.max_multi_ops = s.max_multi_ops;
  out.history_per_node = s.history_per_node;
  out.min_session_timeout_ms = s.min_session_timeout_ms;
  out.max_session_timeout_ms = s.max_session_timeout_ms;
  return out;
}

absl::Status ApplyCommand(const ApplyLimits& defaults, uint64_t revision,
                          const v1::Command& command, Overlay* st,
                          const std::function<std::optional<uint64_t>(uint64_t)>& digest_at,
                          v1::CommandResult* result) {
  result->Clear();
  const ApplyLimits limits = EffectiveLimits(defaults, st->meta());
  switch (command.body_case()) {
    case v1::Command::kTxn: {
      const v1::WriteContext& write = command.write();
      if (write.session_id() == 0) return ApplyTxn(limits, revision, command, st, result);
      absl::StatusOr<std::optional<Session>> session = st->GetSession(write.session_id());
      if (!session.ok()) return session.status();
      if (!session->has_value()) {
        result->set_code(v1::SESSION_EXPIRED);
        return absl::OkStatus();
      }
      if (write.sequence() == 0) return ApplyTxn(limits, revision, command, st, result);
      Session& s = **session;
      if (write.sequence() == s.last_sequence) {
        if (!result->ParseFromString(s.last_result)) {
          return absl::DataLossError("stored session result does not parse");
        }
        return absl::OkStatus();
      }
      if (write.sequence() < s.last_sequence) {
        result->set_code(v1::DEADLINE_EXCEEDED);
        return absl::OkStatus();
      }
      SYNOD_RETURN_IF_ERROR(ApplyTxn(limits, revision, command, st, result));
      s.last_sequence = write.sequence();
      s.last_result = result->SerializeAsString();
      st->PutSession(std::move(s));
      return absl::OkStatus();
    }
    case v1::Command::kOpenSession: {
      const v1::OpenSessionCommand& open = command.open_session();
      // As ZooKeeper negotiates: any request, even 0 or negative, gets the
      // nearest timeout within the recorded bounds.
      const int64_t timeout_ms = std::clamp(open.timeout_ms(), limits.min_session_timeout_ms,
                                            limits.max_session_timeout_ms);
      Session s;
      s.id = revision;
      s.timeout_ms = timeout_ms;
      s.secret = open.secret();
      st->PutSession(std::move(s));
      result->set_code(v1::OK);
      result->set_session_id(revision);
      result->set_session_timeout_ms(timeout_ms);
      return absl::OkStatus();
    }
    case v1::Command::kCloseSession: {
      uint64_t id = command.close_session().session_id();
      absl::StatusOr<std::optional<Session>> session = st->GetSession(id);
      if (!session.ok()) return session.status();
      if (id == 0 || !session->has_value()) {
        result->set_code(v1::SESSION_EXPIRED);
        return absl::OkStatus();
      }
      result->set_code(v1::OK);
      return EndSession(limits, revision, command.leader_time_ms(), id, st);
    }
    case v1::Command::kExpireSessions: {
      for (uint64_t id : command.expire_sessions().session_ids()) {
        absl::StatusOr<std::optional<Session>> session = st->GetSession(id);
        if (!session.ok()) return session.status();
        if (id == 0 || !session->has_value()) continue;
        SYNOD_RETURN_IF_ERROR(EndSession(limits, revision, command.leader_time_ms(), id, st));
      }
      result->set_code(v1::OK);
      return absl::OkStatus();
    }
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
    case v1::Command::BODY_NOT_SET:
      break;
  }
  result->set_code(v1::INVALID_ARGUMENT);
  return absl::OkStatus();
}

namespace {
// What the node cache may hold: a few thousand hot nodes of a few hundred
// bytes. It is emptied whenever it grows past this (a bulk load, a scan of
// sets over a large tree), so it costs little memory when it cannot help.
constexpr size_t kNodeCacheBytes = 1u << 20;
size_t CachedBytes(const std::string& path, const std::optional<Node>& node) {
  return path.size() + sizeof(std::optional<Node>) + 32 + (node.has_value() ? node->data.size() : 0);
}
}  // namespace

void Applier::DropNodeCache() {
  node_cache_.clear();
  node_cache_bytes_ = 0;
}

void Applier::CacheWrites(const WriteSet& ws) {
  for (const auto& [path, node] : ws.nodes) {
    auto [it, inserted] = node_cache_.try_emplace(path, node);
    if (!inserted) {
      node_cache_bytes_ -= CachedBytes(path, it->second);
      it->second = node;
    }
    node_cache_bytes_ += CachedBytes(path, node);
  }
  node_cache_index_ = ws.applied_index;
  if (node_cache_bytes_ > kNodeCacheBytes) DropNodeCache();
}

Applier::Applier(TreeStore* store, const ApplyLimits& limits) : store_(store), limits_(limits) {
  StoreMeta meta = store_->meta();
  RememberDigest(meta.applied_index, meta.digest);
}

void Applier::RememberDigest(uint64_t revision, uint64_t digest) {
  // Enough for a DigestCheck proposed a while before it commits.
  constexpr size_t kRemembered = 1 << 16;
  if (!recent_digests_.empty() && recent_digests_.back().first >= revision) {
    recent_digests_.clear();  // a restore moved the state: old values are void
  }
  recent_digests_.emplace_back(revision, digest);
  if (recent_digests_.size() > kRemembered) recent_digests_.pop_front();
}

std::optional<uint64_t> Applier::DigestAt(uint64_t revision) const {
  auto it = std::lower_bound(
      recent_digests_.begin(), recent_digests_.end(), revision,
      [](const std::pair<uint64_t, uint64_t>& e, uint64_t rev) { return e.first < rev; });
  if (it == recent_digests_.end() || it->first != revision) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<EntryOutcome>> Applier::ApplyBatch(
    absl::Span<const ApplyEntry> entries) {
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].index <= entries[i - 1].index) {
      return absl::InvalidArgumentError("entry indexes must increase");
    }
  }
  // A settings change may change the history bound, which the store's ring
  // must follow before the next command writes history: commit through it,
  // then go on in another batch.
  for (size_t i = 0; i + 1 < entries.size(); ++i) {
    if (entries[i].command == nullptr || !entries[i].command->has_set_settings()) continue;
    absl::StatusOr<std::vector<EntryOutcome>> head = ApplyOneBatch(entries.subspan(0, i + 1));
    if (!head.ok()) return head.status();
    absl::StatusOr<std::vector<EntryOutcome>> tail = ApplyBatch(entries.subspan(i + 1));
    if (!tail.ok()) return tail.status();
    head->insert(head->end(), std::make_move_iterator(tail->begin()),
                 std::make_move_iterator(tail->end()));
    return head;
  }
  return ApplyOneBatch(entries);
}

absl::StatusOr<std::vector<EntryOutcome>> Applier::ApplyOneBatch(
    absl::Span<const ApplyEntry> entries) {
  std::vector<EntryOutcome> outcomes(entries.size());
  if (entries.empty()) return outcomes;
  // The store drops each version that falls out of the bound by writing the
  // new one over it: it must be built for this very bound. Recorded
  // settings decide it (the ring follows them); without any, the limits the
  // Applier was given must match the store.
  const StoreMeta start = store_->meta();
  const uint32_t bound =
      std::max<uint32_t>(EffectiveLimits(limits_, start).history_per_node, 1);
  if (const uint32_t ring = store_->history_ring(); ring != 0 && ring != bound) {
    if (!start.settings.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store keeps ", ring, " versions per node, the applier ", limits_.history_per_node));
    }
    if (absl::Status s = store_->ResizeHistoryRing(bound); !s.ok()) return s;
  }
  absl::StatusOr<std::unique_ptr<StateView>> view = store_->NewView();
  if (!view.ok()) return view.status();
  const uint64_t applied = (*view)->meta().applied_index;
  if (entries.back().index <= applied) {
    for (size_t i = 0; i < entries.size(); ++i) {
      outcomes[i].index = entries[i].index;
      outcomes[i].skipped = true;
    }
    return outcomes;
  }
  if (recent_digests_.empty() || recent_digests_.back().first != applied) {
    RememberDigest(applied, (*view)->meta().digest);
  }
  auto digest_at = [this](uint64_t rev) { return DigestAt(rev); };
  Overlay batch(view->get());
  // The nodes the batch's ops name (and their parents, for creates and
  // deletes), read in one batched lookup instead of one by one.
  std::vector<std::string> wanted;
  for (const ApplyEntry& entry : entries) {
    if (entry.command == nullptr || entry.index <= applied || !entry.command->has_txn()) continue;
    for (const v1::Op& op : entry.command->txn().ops()) {
      const std::string* path = nullptr;
      bool parent = false;
      switch (op.op_case()) {
        case v1::Op::kCreate:
          path = &op.create().path();
          parent = true;
          break;
        case v1::Op::kSet:
          path = &op.set().path();
          break;
        case v1::Op::kDelete:
          path = &op.delete_().path();
          parent = true;
          break;
        default:
          break;
      }
      if (path == nullptr || !IsValidPath(*path) || *path == "/") continue;
      wanted.push_back(*path);
      if (parent) wanted.emplace_back(ParentPath(*path));
    }
  }
  if (node_cache_index_ != applied) DropNodeCache();
  if (!node_cache_.empty()) {
    std::erase_if(wanted, [&](const std::string& path) {
      auto it = node_cache_.find(path);
      if (it == node_cache_.end()) return false;
      batch.Seed(path, it->second);
      return true;
    });
  }
  if (absl::Status s = batch.Prefetch(std::move(wanted)); !s.ok()) return s;
  // Each outcome's events are [event_begin[i], event_begin[i + 1]) of the
  // batch's; they are moved out once the batch is committed.
  std::vector<size_t> event_begin(entries.size() + 1, 0);
  for (size_t i = 0; i < entries.size(); ++i) {
    EntryOutcome& out = outcomes[i];
    out.index = entries[i].index;
    event_begin[i] = batch.events().size();
    if (entries[i].index <= applied) {
      out.skipped = true;
      continue;
    }
    if (entries[i].command != nullptr) {
      absl::Status s =
          ApplyCommand(limits_, out.index, *entries[i].command, &batch, digest_at, &out.result);
      if (!s.ok()) return s;
    }
    RememberDigest(out.index, batch.meta().digest);
  }
  event_begin[entries.size()] = batch.events().size();
  WriteSet ws = batch.TakeWriteSet(entries.back().index);
  view->reset();
  if (absl::Status s = store_->Commit(ws); !s.ok()) {
    DropNodeCache();
    return s;
  }
  CacheWrites(ws);
  for (size_t i = 0; i < entries.size(); ++i) {
    outcomes[i].events.assign(std::make_move_iterator(ws.events.begin() + event_begin[i]),
                              std::make_move_iterator(ws.events.begin() + event_begin[i + 1]));
  }
  return outcomes;
}

}  // namespace synod::storage
