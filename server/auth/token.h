// Tokens from Auth.Authenticate: a claim (user name, the user's
// password_revision, expiry) signed with HMAC-SHA256 under the replicated
// AuthState.token_key, so that every replica checks a token another issued
// without asking anyone. Text form: base64url(claim) "." base64url(MAC),
// no padding, safe in an "authorization: Bearer" header.
//
// A token ends at its expiry, when its user is deleted, when the user's
// password changes (password_revision moves on) and when the key changes
// (AuthSetCommand enabling auth chooses a new one).
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "synod/v1/command.pb.h"

namespace synod::server {

struct TokenClaims {
  std::string user;
  uint64_t password_revision = 0;
  int64_t expires_at_ms = 0;  // wall clock
};

// Longest token VerifyToken reads (a user name is bounded far below it).
inline constexpr size_t kMaxTokenBytes = 4096;

// The token for `claims` under `key`. InvalidArgument for an empty key.
absl::StatusOr<std::string> SignToken(std::string_view key, const TokenClaims& claims);

// The user `token` names in `state`, if the token is well formed, signed
// with state.token_key (compared in constant time), not expired at
// `now_ms`, and names a user that exists with the same password_revision.
// Errors: Unauthenticated, saying which of those failed (never a secret).
absl::StatusOr<const v1::User*> VerifyToken(const v1::AuthState& state, std::string_view token,
                                            int64_t now_ms);

}  // namespace synod::server
