// ACLs in apply (apply_internal.h): the permission check every tree op
// makes for the command's caller, ZooKeeper's setACL op, and the ACL each
// watch event carries so that the watch hub shows it only to callers that
// may read the node.
#include <string>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "storage/apply_internal.h"
#include "storage/path.h"

namespace synod::storage::apply_internal {

bool Allowed(const OpContext& ctx, const Acl& acl, uint32_t perm) {
  return ctx.caller == nullptr || Permits(acl, perm, *ctx.caller);
}

absl::StatusOr<Acl> ResolveGivenAcl(const OpContext& ctx,
                                    const google::protobuf::RepeatedPtrField<v1::Acl>& given) {
  const v1::Caller& caller = ctx.caller != nullptr ? *ctx.caller : v1::Caller::default_instance();
  if (given.empty()) return ResolveAcl({}, caller);
  // ResolveAcl takes contiguous entries; a RepeatedPtrField holds pointers.
  std::vector<v1::Acl> entries(given.begin(), given.end());
  return ResolveAcl(entries, caller);
}

void AddEvent(Overlay* st, v1::EventType type, std::string_view path, uint64_t revision,
              const NodeStat* stat, const Acl& acl) {
  v1::WatchEvent event;
  event.set_type(type);
  event.set_path(std::string(path));
  event.set_revision(revision);
  if (stat != nullptr) ToProto(*stat, event.mutable_stat());
  // The stored form, not the reply form: an open node's event carries no
  // entries, so the common case costs nothing.
  for (const AclEntry& entry : acl) ToProto(entry, event.add_acl());
  st->AddEvent(std::move(event));
}

// As ZooKeeper's PrepRequestProcessor orders setACL: the path, the given
// ACL (fixupACL: INVALID_ACL), the node (NO_NODE), PERM_ADMIN on it
// (PERMISSION_DENIED), then the expected aversion (BAD_VERSION). An ACL
// change is not a data version: no history entry and no watch event (as
// ZooKeeper); the node's next history entries carry the new ACL.
absl::Status DoSetAcl(Overlay* st, const OpContext& ctx, const v1::SetAclOp& op,
                      v1::OpResult* r) {
  if (!IsValidPath(op.path())) {
    r->set_code(v1::INVALID_PATH);
    return absl::OkStatus();
  }
  absl::StatusOr<Acl> acl = ResolveGivenAcl(ctx, op.acl());
  if (!acl.ok()) {
    r->set_code(v1::INVALID_ACL);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Node>> found = st->GetNode(op.path());
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    r->set_code(v1::NO_NODE);
    return absl::OkStatus();
  }
  Node node = std::move(**found);
  if (!Allowed(ctx, node.acl, kPermAdmin)) {
    r->set_code(v1::PERMISSION_DENIED);
    return absl::OkStatus();
  }
  if (!VersionMatches(op.has_expected_aversion(), op.expected_aversion(), node.stat.aversion)) {
    r->set_code(v1::BAD_VERSION);
    return absl::OkStatus();
  }
  node.acl = *std::move(acl);
  node.stat.aversion += 1;
  NodeStat stat = node.stat;
  SYNOD_RETURN_IF_ERROR(st->PutNode(op.path(), std::move(node)));
  r->set_code(v1::OK);
  ToProto(stat, r->mutable_stat());
  return absl::OkStatus();
}

}  // namespace synod::storage::apply_internal
