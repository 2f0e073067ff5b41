// Conversions between Synod's v1 messages and ZooKeeper's records (Stat,
// ACL), shared by the operations of ZkConnection.
//
// Thread: none of its own; pure functions.
#pragma once

#include <vector>

#include "google/protobuf/repeated_ptr_field.h"
#include "server/zk/records.h"
#include "synod/v1/common.pb.h"

namespace synod::zk {

Stat ToZkStat(const v1::Stat& s);

// ZooKeeper's perms are Synod's Perm bits (cdrwa: create 4, delete 8,
// read 1, write 2, admin 16); bits outside them are passed on for apply to
// refuse (INVALID_ACL).
std::vector<Acl> ToZkAcl(const google::protobuf::RepeatedPtrField<v1::Acl>& acl);
void ToV1Acl(const std::vector<Acl>& acl, google::protobuf::RepeatedPtrField<v1::Acl>* out);

}  // namespace synod::zk
