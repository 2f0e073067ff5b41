#include "storage/acl.h"

#include <arpa/inet.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace synod::storage {
namespace {

// Debian's abseil has a string_view of its own.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr std::string_view kWorld = "world";
constexpr std::string_view kAnyone = "anyone";
constexpr std::string_view kAuth = "auth";
constexpr std::string_view kDigest = "digest";
constexpr std::string_view kIp = "ip";
constexpr std::string_view kX509 = "x509";
constexpr std::string_view kUser = "user";
// ZooKeeper's SASLAuthenticationProvider: id the authenticated user name.
constexpr std::string_view kSasl = "sasl";

// The letters of ZooKeeper's perms, in its order, and their bits.
constexpr std::array<std::pair<char, uint32_t>, 5> kPermLetters = {{
    {'c', kPermCreate},
    {'d', kPermDelete},
    {'r', kPermRead},
    {'w', kPermWrite},
    {'a', kPermAdmin},
}};

// An IPv4 or IPv6 address as 4 or 16 bytes.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  size_t size = 0;  // 4 or 16
};

std::optional<IpAddress> ParseAddress(std::string_view text) {
  std::string s(text);
  IpAddress out;
  if (inet_pton(AF_INET, s.c_str(), out.bytes.data()) == 1) {
    out.size = 4;
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.bytes.data()) == 1) {
    out.size = 16;
    return out;
  }
  return std::nullopt;
}

// "address" or "address/bits": the address and the prefix length.
std::optional<std::pair<IpAddress, size_t>> ParseIpEntry(std::string_view text) {
  std::string_view address = text;
  std::optional<size_t> bits;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    address = text.substr(0, slash);
    size_t n = 0;
    if (!absl::SimpleAtoi(Av(text.substr(slash + 1)), &n)) return std::nullopt;
    bits = n;
  }
  std::optional<IpAddress> parsed = ParseAddress(address);
  if (!parsed.has_value()) return std::nullopt;
  size_t max_bits = parsed->size * 8;
  if (bits.value_or(max_bits) > max_bits) return std::nullopt;
  return std::make_pair(*parsed, bits.value_or(max_bits));
}

bool IpMatches(std::string_view entry_id, std::string_view caller_address) {
  std::optional<std::pair<IpAddress, size_t>> entry = ParseIpEntry(entry_id);
  std::optional<IpAddress> caller = ParseAddress(caller_address);
  if (!entry.has_value() || !caller.has_value()) return false;
  const auto& [net, bits] = *entry;
  if (net.size != caller->size) return false;
  size_t full = bits / 8;
  if (std::memcmp(net.bytes.data(), caller->bytes.data(), full) != 0) return false;
  if (bits % 8 == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits % 8));
  return (net.bytes[full] & mask) == (caller->bytes[full] & mask);
}

bool ValidDigestId(std::string_view id) {
  size_t colon = id.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string raw;
  if (!absl::Base64Unescape(Av(id.substr(colon + 1)), &raw)) return false;
  return raw.size() == SHA_DIGEST_LENGTH;
}

absl::Status InvalidEntry(const v1::Acl& acl, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid ACL entry \"", FormatAcl(acl), "\": ", Av(why)));
}

absl::Status CheckEntry(const v1::Acl& acl) {
  // An entry with no permission grants nothing; ZooKeeper accepts it (only
  // the superuser can then reach the node), so Synod does too.
  if ((acl.perms() & ~kPermAll) != 0) {
    return InvalidEntry(acl, "permissions must be a subset of cdrwa");
  }
  if (acl.id().size() > kMaxAclIdBytes) return InvalidEntry(acl, "id too long");
  const std::string& scheme = acl.scheme();
  const std::string& id = acl.id();
  if (scheme == kWorld) {
    if (id != kAnyone) return InvalidEntry(acl, "the world scheme's only id is \"anyone\"");
  } else if (scheme == kDigest) {
    if (!ValidDigestId(id)) return InvalidEntry(acl, "a digest id is user:base64(SHA-1(user:password))");
  } else if (scheme == kIp) {
    if (!ParseIpEntry(id).has_value()) return InvalidEntry(acl, "an ip id is an address or address/bits");
  } else if (scheme == kX509 || scheme == kUser || scheme == kSasl) {
    if (id.empty()) return InvalidEntry(acl, "empty id");
  } else if (scheme != kAuth) {
    return InvalidEntry(acl, "unknown scheme (world, auth, digest, ip, x509, user, sasl)");
  }
  return absl::OkStatus();
}

}  // namespace

AclEntry FromProto(const v1::Acl& acl) { return AclEntry{acl.perms(), acl.scheme(), acl.id()}; }

void ToProto(const AclEntry& entry, v1::Acl* out) {
  out->set_perms(entry.perms);
  out->set_scheme(entry.scheme);
  out->set_id(entry.id);
}

void ToProto(const Acl& acl, google::protobuf::RepeatedPtrField<v1::Acl>* out) {
  out->Clear();
  if (acl.empty()) {
    v1::Acl* open = out->Add();
    open->set_perms(kPermAll);
    open->set_scheme(std::string(kWorld));
    open->set_id(std::string(kAnyone));
    return;
  }
  for (const AclEntry& entry : acl) ToProto(entry, out->Add());
}

namespace {

// Both forms of an ACL: entries with perms, scheme and id.
uint32_t PermsOf(const AclEntry& e) { return e.perms; }
uint32_t PermsOf(const v1::Acl& e) { return e.perms(); }
std::string_view SchemeOf(const AclEntry& e) { return e.scheme; }
std::string_view SchemeOf(const v1::Acl& e) { return e.scheme(); }
std::string_view IdOf(const AclEntry& e) { return e.id; }
std::string_view IdOf(const v1::Acl& e) { return e.id(); }

template <typename List>
bool PermitsAny(const List& acl, uint32_t perm, const v1::Caller& caller) {
  if (caller.superuser() || acl.empty()) return true;
  for (const auto& entry : acl) {
    if ((PermsOf(entry) & perm) != perm) continue;
    std::string_view scheme = SchemeOf(entry);
    std::string_view entry_id = IdOf(entry);
    if (scheme == kWorld && entry_id == kAnyone) return true;
    for (const v1::Identity& id : caller.ids()) {
      if (scheme == kIp ? id.scheme() == kIp && IpMatches(entry_id, id.id())
                        : scheme == id.scheme() && entry_id == id.id()) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

bool Permits(const Acl& acl, uint32_t perm, const v1::Caller& caller) {
  return PermitsAny(acl, perm, caller);
}

bool Permits(const google::protobuf::RepeatedPtrField<v1::Acl>& acl, uint32_t perm,
             const v1::Caller& caller) {
  return PermitsAny(acl, perm, caller);
}

absl::StatusOr<Acl> ResolveAcl(absl::Span<const v1::Acl> given, const v1::Caller& caller) {
  if (given.size() > kMaxAclEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("an ACL has at most ", kMaxAclEntries, " entries, not ", given.size()));
  }
  Acl out;
  for (const v1::Acl& entry : given) {
    if (absl::Status s = CheckEntry(entry); !s.ok()) return s;
    if (entry.scheme() != kAuth) {
      out.push_back(FromProto(entry));
      continue;
    }
    bool any = false;
    for (const v1::Identity& id : caller.ids()) {
      if (id.scheme() == kIp) continue;
      out.push_back(AclEntry{entry.perms(), id.scheme(), id.id()});
      any = true;
    }
    if (!any) return InvalidEntry(entry, "the caller has no authenticated identity to put in its place");
  }
  if (out.size() > kMaxAclEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("an ACL has at most ", kMaxAclEntries, " entries once \"auth\" is expanded"));
  }
  if (out.size() == 1 && out[0] == AclEntry{kPermAll, std::string(kWorld), std::string(kAnyone)}) {
    out.clear();
  }
  return out;
}

std::string DigestId(std::string_view user, std::string_view password) {
  std::string joined = absl::StrCat(Av(user), ":", Av(password));
  unsigned char hash[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), hash);
  return absl::StrCat(Av(user), ":",
                      absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(hash), sizeof(hash))));
}

std::string FormatPerms(uint32_t perms) {
  std::string out;
  for (const auto& [letter, bit] : kPermLetters) {
    if ((perms & bit) != 0) out.push_back(letter);
  }
  return out;
}

absl::StatusOr<uint32_t> ParsePerms(std::string_view text) {
  uint32_t perms = 0;
  for (char c : text) {
    bool known = false;
    for (const auto& [letter, bit] : kPermLetters) {
      if (c == letter) {
        perms |= bit;
        known = true;
      }
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown permission '", std::string(1, c), "' in \"", Av(text), "\" (use cdrwa)"));
    }
  }
  if (perms == 0) return absl::InvalidArgumentError("no permission given (use letters of cdrwa)");
  return perms;
}

std::string FormatAcl(const v1::Acl& entry) {
  return absl::StrCat(entry.scheme(), ":", entry.id(), ":", FormatPerms(entry.perms()));
}

absl::StatusOr<v1::Acl> ParseAclEntry(std::string_view text) {
  size_t first = text.find(':');
  size_t last = text.rfind(':');
  if (first == std::string_view::npos || first == last) {
    return absl::InvalidArgumentError(
        absl::StrCat("an ACL entry is scheme:id:perms, not \"", Av(text), "\""));
  }
  absl::StatusOr<uint32_t> perms = ParsePerms(text.substr(last + 1));
  if (!perms.ok()) return perms.status();
  v1::Acl out;
  out.set_scheme(std::string(text.substr(0, first)));
  out.set_id(std::string(text.substr(first + 1, last - first - 1)));
  out.set_perms(*perms);
  return out;
}

absl::StatusOr<std::vector<v1::Acl>> ParseAclList(std::string_view text) {
  std::vector<v1::Acl> out;
  for (absl::string_view part : absl::StrSplit(Av(text), ',', absl::SkipWhitespace())) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(part);
    absl::StatusOr<v1::Acl> entry = ParseAclEntry(std::string_view(trimmed.data(), trimmed.size()));
    if (!entry.ok()) return entry.status();
    out.push_back(*std::move(entry));
  }
  if (out.empty()) return absl::InvalidArgumentError("empty ACL");
  return out;
}

void RedactDigests(google::protobuf::RepeatedPtrField<v1::Acl>* acl) {
  for (v1::Acl& entry : *acl) {
    if (entry.scheme() != kDigest) continue;
    size_t colon = entry.id().rfind(':');
    if (colon != std::string::npos) entry.set_id(entry.id().substr(0, colon + 1) + "x");
  }
}

}  // namespace synod::storage
