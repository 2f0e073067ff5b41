// Conversions between Synod's v1 messages and ZooKeeper's records (Stat,
// ACL), shared by the operations of ZkConnection.
//
// Thread: none of its own; pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "google/protobuf/repeated_ptr_field.h"
#include "server/zk/records.h"
#include "synod/v1/common.pb.h"

namespace synod::zk {

Stat ToZkStat(const v1::Stat& s);

// An expected (a)version from a ZooKeeper request: -1 is any. ZooKeeper's
// versions are int32 and wrap; Synod's are int64. A version below -1 is the
// int32 a ZooKeeper version of 2^31 or more wraps to: it names the int64
// version with the same low 32 bits, so it never matches a node set fewer
// than 2^31 times and is answered BadVersion, as ZooKeeper answers it.
int64_t FromZkVersion(int32_t version);

// ZooKeeper's perms are Synod's Perm bits (cdrwa: create 4, delete 8,
// read 1, write 2, admin 16); bits outside them are passed on for apply to
// refuse (INVALID_ACL). ToV1Acl drops an entry equal to an earlier one, as
// ZooKeeper does.
std::vector<Acl> ToZkAcl(const google::protobuf::RepeatedPtrField<v1::Acl>& acl);
void ToV1Acl(const std::vector<Acl>& acl, google::protobuf::RepeatedPtrField<v1::Acl>* out);

}  // namespace synod::zk
