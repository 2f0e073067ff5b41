// ACLs: ZooKeeper's access-control model (common.proto Acl), in one place:
// what a legal ACL is, what "auth" expands to, whether a caller holds a
// permission, and the text form tools use ("scheme:id:perms", perms as
// ZooKeeper's letters "cdrwa").
//
// Pure functions over plain values; thread-compatible. Apply (checks at
// write time, alike on every replica), the serving replica (checks at read
// time), the watch hub (checks before it shows an event) and the tools all
// use these, so the rules cannot drift apart.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "synod/v1/common.pb.h"

namespace synod::storage {

inline constexpr uint32_t kPermRead = v1::PERM_READ;
inline constexpr uint32_t kPermWrite = v1::PERM_WRITE;
inline constexpr uint32_t kPermCreate = v1::PERM_CREATE;
inline constexpr uint32_t kPermDelete = v1::PERM_DELETE;
inline constexpr uint32_t kPermAdmin = v1::PERM_ADMIN;
inline constexpr uint32_t kPermAll = v1::PERM_ALL;

// Entries per ACL and bytes per id a node may carry (INVALID_ACL beyond).
inline constexpr size_t kMaxAclEntries = 64;
inline constexpr size_t kMaxAclIdBytes = 1024;

// One ACL entry as the state stores it. A node's ACL is a list of these; an
// empty list is world:anyone with every permission (OPEN_ACL_UNSAFE).
struct AclEntry {
  uint32_t perms = 0;
  std::string scheme;
  std::string id;

  bool operator==(const AclEntry&) const = default;
};

using Acl = std::vector<AclEntry>;

AclEntry FromProto(const v1::Acl& acl);
void ToProto(const AclEntry& entry, v1::Acl* out);
// The ACL as a reply shows it: an empty (open) ACL as world:anyone:cdrwa.
void ToProto(const Acl& acl, google::protobuf::RepeatedPtrField<v1::Acl>* out);

// True if `caller` holds `perm` (one or more Perm bits, all needed) on a
// node with `acl`: the superuser always; else an entry grants every bit of
// `perm` and matches one of the caller's identities — world:anyone matches
// everyone, an ip entry matches an ip identity whose address is in its
// address or prefix, any other entry an identity with equal scheme and id.
// An empty ACL grants everything to everyone.
bool Permits(const Acl& acl, uint32_t perm, const v1::Caller& caller);
// The same for an ACL as a message carries it (WatchEvent.acl).
bool Permits(const google::protobuf::RepeatedPtrField<v1::Acl>& acl, uint32_t perm,
             const v1::Caller& caller);

// Checks an ACL given with a create or setACL, as ZooKeeper does, and
// returns it as the node will store it: "auth" entries are replaced by one
// entry per identity the caller holds other than ip (same perms), and an
// ACL that is exactly world:anyone:cdrwa is stored as the empty (open) ACL.
// InvalidArgument (Synod code INVALID_ACL) naming the entry: an unknown
// scheme, an id malformed for its scheme (world other than "anyone",
// digest not "user:base64-of-20-bytes", ip not an address or CIDR, x509,
// user or sasl empty), perms
// outside cdrwa or 0, more than kMaxAclEntries entries or an id over
// kMaxAclIdBytes, or "auth" from a caller with no identity.
absl::StatusOr<Acl> ResolveAcl(absl::Span<const v1::Acl> given, const v1::Caller& caller);

// ZooKeeper's digest identity for user:password: "user:" followed by the
// base64 of SHA-1("user:password").
std::string DigestId(std::string_view user, std::string_view password);

// Text form. Perms: ZooKeeper's letters, in the order "cdrwa" (create,
// delete, read, write, admin). An entry: "scheme:id:perms", where id may
// itself contain ':' (digest, IPv6), so perms follow the last ':'.
// A list: entries separated by ','.
std::string FormatPerms(uint32_t perms);
absl::StatusOr<uint32_t> ParsePerms(std::string_view text);
std::string FormatAcl(const v1::Acl& entry);
absl::StatusOr<v1::Acl> ParseAclEntry(std::string_view text);
absl::StatusOr<std::vector<v1::Acl>> ParseAclList(std::string_view text);

// An ACL as GetAcl shows it to a caller with READ but not ADMIN: the hash
// part of digest ids replaced by "x" (as ZooKeeper 3.8 does).
void RedactDigests(google::protobuf::RepeatedPtrField<v1::Acl>* acl);

}  // namespace synod::storage
