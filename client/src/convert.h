// Conversions between the public types of synod/client.h and the protos of
// synod.v1. The public header must not include protobuf, so every mapping
// lives here, in one place.
//
// Thread: pure functions.
#pragma once

#include "synod/client.h"
#include "synod/v1/cluster.pb.h"
#include "synod/v1/common.pb.h"
#include "synod/v1/tree.pb.h"
#include "synod/v1/watch.pb.h"

namespace synod::client {

Stat FromProto(const v1::Stat& stat);
void ToProto(const Stat& stat, v1::Stat* out);
ErrorCode FromProto(v1::ErrorCode code);
v1::CreateMode ToProto(CreateMode mode);
CreateMode FromProto(v1::CreateMode mode);
void ToProto(const ReadOptions& options, uint64_t floor_revision, v1::ReadOptions* out);
// OK, or INVALID_PATH saying what is wrong with `path` (the server's own
// rules, storage/path.h): checked before a request is serialized, since a
// path that is not UTF-8 cannot travel in a protobuf string at all.
absl::Status CheckPath(absl::string_view path);
// Fails with INVALID_ARGUMENT for an op the wire cannot express, and
// INVALID_PATH for a bad path.
absl::Status ToProto(const Op& op, v1::Op* out);
void ToProto(const std::vector<AclEntry>& acl, google::protobuf::RepeatedPtrField<v1::Acl>* out);
std::vector<AclEntry> FromProto(const google::protobuf::RepeatedPtrField<v1::Acl>& acl);
OpResult FromProto(const v1::OpResult& result);
v1::WatchKind ToProto(WatchKind kind);
EventType FromProto(v1::EventType type);
WatchEvent FromProto(const v1::WatchEvent& event);
Member FromProto(const v1::Member& member);
std::vector<Member> FromProto(const google::protobuf::RepeatedPtrField<v1::Member>& members);
Role FromProto(v1::Role role);
ReplicaStatus FromProto(const v1::StatusResponse& status);
NodeVersion FromProto(const v1::NodeVersion& version);

}  // namespace synod::client
