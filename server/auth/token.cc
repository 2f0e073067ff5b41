#include "server/auth/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/endian.h"

namespace synod::server {
namespace {

// Claim layout: version byte, expiry (8 bytes LE), password revision (8
// bytes LE), user name. The MAC covers a domain label and the claim, so a
// token key could never sign something else that passes as a token.
constexpr char kVersion = 1;
constexpr size_t kClaimHead = 1 + 8 + 8;
constexpr std::string_view kLabel = "synod-token-v1";
constexpr size_t kMacBytes = 32;

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

void PutU64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

absl::StatusOr<std::string> Mac(std::string_view key, std::string_view claim) {
  std::string input = absl::StrCat(Av(kLabel), Av(claim));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len) ==
          nullptr ||
      len != kMacBytes) {
    return absl::InternalError("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(mac), len);
}

absl::Status Bad(std::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("invalid token: ", Av(why)));
}

}  // namespace

absl::StatusOr<std::string> SignToken(std::string_view key, const TokenClaims& claims) {
  if (key.empty()) return absl::InvalidArgumentError("no token key");
  std::string claim(1, kVersion);
  PutU64(static_cast<uint64_t>(claims.expires_at_ms), &claim);
  PutU64(claims.password_revision, &claim);
  claim += claims.user;
  absl::StatusOr<std::string> mac = Mac(key, claim);
  if (!mac.ok()) return mac.status();
  return absl::StrCat(absl::WebSafeBase64Escape(claim), ".", absl::WebSafeBase64Escape(*mac));
}

absl::StatusOr<const v1::User*> VerifyToken(const v1::AuthState& state, std::string_view token,
                                            int64_t now_ms) {
  if (token.size() > kMaxTokenBytes) return Bad("too long");
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos) return Bad("malformed");
  std::string claim;
  std::string mac;
  if (!absl::WebSafeBase64Unescape(Av(token.substr(0, dot)), &claim) ||
      !absl::WebSafeBase64Unescape(Av(token.substr(dot + 1)), &mac) || claim.size() < kClaimHead ||
      claim[0] != kVersion || mac.size() != kMacBytes) {
    return Bad("malformed");
  }
  if (state.token_key().empty()) return Bad("this cluster issues no tokens yet");
  absl::StatusOr<std::string> expected = Mac(state.token_key(), claim);
  if (!expected.ok()) return expected.status();
  if (CRYPTO_memcmp(expected->data(), mac.data(), kMacBytes) != 0) {
    return Bad("signature does not match (forged, or signed with a key since replaced)");
  }
  const std::string_view view(claim);
  const int64_t expires_at_ms = static_cast<int64_t>(base::LoadLittleEndian64(view.data() + 1));
  const uint64_t revision = base::LoadLittleEndian64(view.data() + 9);
  const std::string_view user = view.substr(kClaimHead);
  if (now_ms >= expires_at_ms) return Bad("expired: authenticate again");
  for (const v1::User& u : state.users()) {
    if (u.name() != user) continue;
    if (u.password_revision() != revision) return Bad("the password changed since it was issued");
    return &u;
  }
  return Bad("its user no longer exists");
}

}  // namespace synod::server
