// Fuzz target: ACLs (storage/acl.h): the text form tools parse
// ("scheme:id:perms,..."), the entries a client sends with a create or a
// setACL (checked and resolved by ResolveAcl), and the permission check.
//
// Input: u8 permission bits to check, u16 length + ACL text, u16 length +
// a serialized v1::CreateOp (its acl field: entries as a client sends
// them), then the rest as a serialized v1::Caller (bytes that do not parse
// give an empty one).
// Promises checked beyond "no crash": errors are InvalidArgument only; a
// parsed entry's text form parses back to it; perms round-trip through
// their letters; a resolved ACL without "auth" entries resolves again to
// itself and holds no more than kMaxAclEntries entries; a caller holding a
// set of permissions holds each part of it; the superuser and an open ACL
// permit everything; redacting digests twice is redacting them once.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/acl.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/quiet_protobuf.h"

namespace synod::fuzz {
namespace {

constexpr std::initializer_list<absl::StatusCode> kInvalid = {absl::StatusCode::kInvalidArgument};

bool SameEntry(const v1::Acl& a, const v1::Acl& b) {
  return a.perms() == b.perms() && a.scheme() == b.scheme() && a.id() == b.id();
}

void CheckResolve(const std::vector<v1::Acl>& given, const v1::Caller& caller) {
  const absl::StatusOr<storage::Acl> acl = storage::ResolveAcl(given, caller);
  RequireTyped(acl.status(), kInvalid, "ResolveAcl");
  if (!acl.ok()) return;
  Require(acl->size() <= storage::kMaxAclEntries, "resolved ACL over the entry limit");
  bool has_auth = false;
  for (const v1::Acl& e : given) has_auth |= e.scheme() == "auth";
  if (!has_auth) {
    std::vector<v1::Acl> stored;
    for (const storage::AclEntry& e : *acl) storage::ToProto(e, &stored.emplace_back());
    const absl::StatusOr<storage::Acl> again = storage::ResolveAcl(stored, caller);
    Require(again.ok() && *again == *acl, "a resolved ACL does not resolve to itself",
            again.status().ToString());
  }
  for (uint32_t perm = 1; perm <= storage::kPermAll; ++perm) {
    if (!storage::Permits(*acl, perm, caller)) continue;
    for (uint32_t bit = 1; bit <= storage::kPermAll; bit <<= 1) {
      if ((perm & bit) != 0) {
        Require(storage::Permits(*acl, bit, caller), "a caller holds a set but not its part");
      }
    }
  }
  v1::Caller super = caller;
  super.set_superuser(true);
  Require(storage::Permits(*acl, storage::kPermAll, super), "the superuser is refused");
}

}  // namespace
}  // namespace synod::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synod;
  using namespace synod::fuzz;
  ByteReader in(data, size);
  const uint32_t perm = in.U8() & storage::kPermAll;
  const std::string_view text = in.Field();
  const std::string_view create_bytes = in.Field();
  const std::string_view caller_bytes = in.Rest();
  v1::Caller caller;
  if (!caller.ParseFromArray(caller_bytes.data(), static_cast<int>(caller_bytes.size()))) {
    caller.Clear();
  }

  if (perm != 0) {
    const absl::StatusOr<uint32_t> parsed = storage::ParsePerms(storage::FormatPerms(perm));
    Require(parsed.ok() && *parsed == perm, "perms do not round-trip");
    Require(storage::Permits(storage::Acl{}, perm, caller), "an open ACL refuses");
  }
  RequireTyped(storage::ParsePerms(text).status(), kInvalid, "ParsePerms");

  const absl::StatusOr<std::vector<v1::Acl>> list = storage::ParseAclList(text);
  RequireTyped(list.status(), kInvalid, "ParseAclList");
  if (list.ok()) {
    for (const v1::Acl& entry : *list) {
      const absl::StatusOr<v1::Acl> again = storage::ParseAclEntry(storage::FormatAcl(entry));
      Require(again.ok() && SameEntry(*again, entry), "an ACL entry's text does not parse back",
              storage::FormatAcl(entry));
    }
    CheckResolve(*list, caller);
  }

  v1::CreateOp create;
  if (create.ParseFromArray(create_bytes.data(), static_cast<int>(create_bytes.size()))) {
    const std::vector<v1::Acl> given(create.acl().begin(), create.acl().end());
    CheckResolve(given, caller);
    google::protobuf::RepeatedPtrField<v1::Acl> redacted = create.acl();
    storage::RedactDigests(&redacted);
    google::protobuf::RepeatedPtrField<v1::Acl> twice = redacted;
    storage::RedactDigests(&twice);
    for (int i = 0; i < redacted.size(); ++i) {
      Require(SameEntry(redacted[i], twice[i]), "redacting digests is not idempotent");
    }
  }
  return 0;
}
