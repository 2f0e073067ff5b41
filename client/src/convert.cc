#include "client/src/convert.h"

#include <string_view>

#include "storage/path.h"

namespace synod {

bool IsEphemeral(CreateMode mode) {
  return mode == CreateMode::kEphemeral || mode == CreateMode::kEphemeralSequential;
}

bool IsOneShot(WatchKind kind) {
  return kind == WatchKind::kData || kind == WatchKind::kChildren || kind == WatchKind::kExists;
}

absl::string_view SessionStateName(SessionState state) {
  switch (state) {
    case SessionState::kConnected:
      return "CONNECTED";
    case SessionState::kSuspended:
      return "SUSPENDED";
    case SessionState::kExpired:
      return "EXPIRED";
    case SessionState::kClosed:
      return "CLOSED";
  }
  return "UNKNOWN";
}

absl::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kNodeCreated:
      return "NODE_CREATED";
    case EventType::kNodeDeleted:
      return "NODE_DELETED";
    case EventType::kNodeDataChanged:
      return "NODE_DATA_CHANGED";
    case EventType::kNodeChildrenChanged:
      return "NODE_CHILDREN_CHANGED";
  }
  return "UNKNOWN";
}

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kCandidate:
      return "candidate";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kLeader:
      return "leader";
    case Role::kLearner:
      return "learner";
  }
  return "unknown";
}

Op Op::Create(std::string path, std::string data, CreateOptions options) {
  Op op;
  op.type = Type::kCreate;
  op.path = std::move(path);
  op.data = std::move(data);
  op.create = options;
  return op;
}

Op Op::Set(std::string path, std::string data, int64_t expected_version) {
  Op op;
  op.type = Type::kSet;
  op.path = std::move(path);
  op.data = std::move(data);
  op.expected_version = expected_version;
  return op;
}

Op Op::Delete(std::string path, int64_t expected_version) {
  Op op;
  op.type = Type::kDelete;
  op.path = std::move(path);
  op.expected_version = expected_version;
  return op;
}

Op Op::Check(std::string path, int64_t expected_version) {
  Op op;
  op.type = Type::kCheck;
  op.path = std::move(path);
  op.expected_version = expected_version;
  return op;
}

}  // namespace synod

namespace synod::client {

Stat FromProto(const v1::Stat& s) {
  Stat out;
  out.czxid = s.czxid();
  out.mzxid = s.mzxid();
  out.pzxid = s.pzxid();
  out.ctime = s.ctime();
  out.mtime = s.mtime();
  out.version = s.version();
  out.cversion = s.cversion();
  out.aversion = s.aversion();
  out.ephemeral_owner = s.ephemeral_owner();
  out.data_length = s.data_length();
  out.num_children = s.num_children();
  return out;
}

void ToProto(const Stat& s, v1::Stat* out) {
  out->set_czxid(s.czxid);
  out->set_mzxid(s.mzxid);
  out->set_pzxid(s.pzxid);
  out->set_ctime(s.ctime);
  out->set_mtime(s.mtime);
  out->set_version(s.version);
  out->set_cversion(s.cversion);
  out->set_aversion(s.aversion);
  out->set_ephemeral_owner(s.ephemeral_owner);
  out->set_data_length(s.data_length);
  out->set_num_children(s.num_children);
}

ErrorCode FromProto(v1::ErrorCode code) {
  const int value = static_cast<int>(code);
  if (value < 0 || value > static_cast<int>(ErrorCode::kUserNotFound)) {
    return ErrorCode::kUnknown;
  }
  return static_cast<ErrorCode>(value);
}

v1::CreateMode ToProto(CreateMode mode) {
  switch (mode) {
    case CreateMode::kPersistent:
      return v1::PERSISTENT;
    case CreateMode::kEphemeral:
      return v1::EPHEMERAL;
    case CreateMode::kPersistentSequential:
      return v1::PERSISTENT_SEQUENTIAL;
    case CreateMode::kEphemeralSequential:
      return v1::EPHEMERAL_SEQUENTIAL;
    case CreateMode::kContainer:
      return v1::CONTAINER;
    case CreateMode::kPersistentWithTtl:
      return v1::PERSISTENT_WITH_TTL;
    case CreateMode::kPersistentSequentialWithTtl:
      return v1::PERSISTENT_SEQUENTIAL_WITH_TTL;
  }
  return v1::PERSISTENT;
}

CreateMode FromProto(v1::CreateMode mode) {
  switch (mode) {
    case v1::EPHEMERAL:
      return CreateMode::kEphemeral;
    case v1::PERSISTENT_SEQUENTIAL:
      return CreateMode::kPersistentSequential;
    case v1::EPHEMERAL_SEQUENTIAL:
      return CreateMode::kEphemeralSequential;
    case v1::CONTAINER:
      return CreateMode::kContainer;
    case v1::PERSISTENT_WITH_TTL:
      return CreateMode::kPersistentWithTtl;
    case v1::PERSISTENT_SEQUENTIAL_WITH_TTL:
      return CreateMode::kPersistentSequentialWithTtl;
    default:
      return CreateMode::kPersistent;
  }
}

void ToProto(const ReadOptions& options, uint64_t floor_revision, v1::ReadOptions* out) {
  out->set_consistency(options.consistency == Consistency::kSerializable ? v1::SERIALIZABLE
                                                                         : v1::LINEARIZABLE);
  out->set_min_revision(std::max(options.min_revision, floor_revision));
}

absl::Status CheckPath(absl::string_view path) {
  absl::Status s = storage::ValidatePath(std::string_view(path.data(), path.size()));
  if (s.ok()) return s;
  return SynodError(ErrorCode::kInvalidPath, s.message());
}

absl::Status ToProto(const Op& op, v1::Op* out) {
  if (absl::Status s = CheckPath(op.path); !s.ok()) return s;
  switch (op.type) {
    case Op::Type::kCreate: {
      v1::CreateOp* c = out->mutable_create();
      c->set_path(op.path);
      c->set_data(op.data);
      c->set_mode(ToProto(op.create.mode));
      c->set_ttl_ms(absl::ToInt64Milliseconds(op.create.ttl));
      ToProto(op.create.acl, c->mutable_acl());
      return absl::OkStatus();
    }
    case Op::Type::kSet: {
      v1::SetOp* s = out->mutable_set();
      s->set_path(op.path);
      s->set_data(op.data);
      if (op.expected_version != -1) s->set_expected_version(op.expected_version);
      return absl::OkStatus();
    }
    case Op::Type::kDelete: {
      v1::DeleteOp* d = out->mutable_delete_();
      d->set_path(op.path);
      if (op.expected_version != -1) d->set_expected_version(op.expected_version);
      return absl::OkStatus();
    }
    case Op::Type::kCheck: {
      v1::CheckOp* c = out->mutable_check();
      c->set_path(op.path);
      if (op.expected_version != -1) c->set_expected_version(op.expected_version);
      return absl::OkStatus();
    }
  }
  return SynodError(ErrorCode::kInvalidArgument, "unknown op type");
}

OpResult FromProto(const v1::OpResult& result) {
  OpResult out;
  out.code = FromProto(result.code());
  out.path = result.path();
  out.stat = FromProto(result.stat());
  return out;
}

v1::WatchKind ToProto(WatchKind kind) {
  switch (kind) {
    case WatchKind::kData:
      return v1::WATCH_DATA;
    case WatchKind::kChildren:
      return v1::WATCH_CHILDREN;
    case WatchKind::kExists:
      return v1::WATCH_EXISTS;
    case WatchKind::kPersistent:
      return v1::WATCH_PERSISTENT;
    case WatchKind::kPersistentRecursive:
      return v1::WATCH_PERSISTENT_RECURSIVE;
  }
  return v1::WATCH_PERSISTENT;
}

EventType FromProto(v1::EventType type) {
  switch (type) {
    case v1::EVENT_NODE_DELETED:
      return EventType::kNodeDeleted;
    case v1::EVENT_NODE_DATA_CHANGED:
      return EventType::kNodeDataChanged;
    case v1::EVENT_NODE_CHILDREN_CHANGED:
      return EventType::kNodeChildrenChanged;
    default:
      return EventType::kNodeCreated;
  }
}

WatchEvent FromProto(const v1::WatchEvent& event) {
  WatchEvent out;
  out.type = FromProto(event.type());
  out.path = event.path();
  out.revision = event.revision();
  out.stat = FromProto(event.stat());
  return out;
}

Member FromProto(const v1::Member& member) {
  Member out;
  out.id = member.id();
  out.peer_addr = member.peer_addr();
  out.client_addr = member.client_addr();
  out.learner = member.learner();
  return out;
}

std::vector<Member> FromProto(const google::protobuf::RepeatedPtrField<v1::Member>& members) {
  std::vector<Member> out;
  out.reserve(members.size());
  for (const v1::Member& m : members) out.push_back(FromProto(m));
  return out;
}

Role FromProto(v1::Role role) {
  switch (role) {
    case v1::ROLE_CANDIDATE:
      return Role::kCandidate;
    case v1::ROLE_PRE_CANDIDATE:
      return Role::kPreCandidate;
    case v1::ROLE_LEADER:
      return Role::kLeader;
    case v1::ROLE_LEARNER:
      return Role::kLearner;
    default:
      return Role::kFollower;
  }
}

ReplicaStatus FromProto(const v1::StatusResponse& s) {
  ReplicaStatus out;
  out.id = s.id();
  out.role = FromProto(s.role());
  out.term = s.term();
  out.leader_id = s.leader_id();
  out.commit_index = s.commit_index();
  out.applied_index = s.applied_index();
  out.digest = s.digest();
  for (const v1::MemberStatus& m : s.members()) {
    MemberStatus ms;
    ms.member = FromProto(m.member());
    ms.match_index = m.match_index();
    ms.reachable = m.reachable();
    out.members.push_back(std::move(ms));
  }
  out.snapshot_index = s.snapshot_index();
  out.log_first_index = s.log_first_index();
  out.version = s.version();
  out.revision = s.header().revision();
  return out;
}

NodeVersion FromProto(const v1::NodeVersion& version) {
  NodeVersion out;
  out.data = version.data();
  out.stat = FromProto(version.stat());
  out.deleted = version.deleted();
  out.deleted_revision = version.deleted_revision();
  return out;
}

void ToProto(const std::vector<AclEntry>& acl, google::protobuf::RepeatedPtrField<v1::Acl>* out) {
  for (const AclEntry& e : acl) {
    v1::Acl* a = out->Add();
    a->set_perms(e.perms);
    a->set_scheme(e.scheme);
    a->set_id(e.id);
  }
}

std::vector<AclEntry> FromProto(const google::protobuf::RepeatedPtrField<v1::Acl>& acl) {
  std::vector<AclEntry> out;
  out.reserve(acl.size());
  for (const v1::Acl& a : acl) out.push_back(AclEntry{a.perms(), a.scheme(), a.id()});
  return out;
}

}  // namespace synod::client
