// Authenticator: who a call is from (auth.proto), and the two gates that
// do not depend on a node: the admin right and "authenticated".
//
// A call's identities come from its metadata (a token from
// Auth.Authenticate, ZooKeeper digest credentials) and its connection (the
// peer address; the subject of a verified TLS client certificate). The
// users, the token key and the auth switch are the replicated AuthState the
// serving replica has applied (command.proto), read through `state`; the
// superuser digest is this replica's flag, as ZooKeeper's superDigest.
//
// Resolve does no slow hashing (tokens are HMACs, digests one SHA-1), so a
// gRPC handler may call it inline. Thread-safe; immutable after
// construction except for what `state` returns.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "synod/v1/command.pb.h"
#include "synod/v1/common.pb.h"

namespace synod::server {

struct AuthOptions {
  // "user:base64(SHA-1(user:password))" (storage::DigestId): a caller that
  // presents that digest identity is the superuser. Empty: none.
  std::string superuser_digest;
  // How long a token from Authenticate is valid.
  absl::Duration token_ttl = absl::Hours(1);
};

// Metadata keys (auth.proto).
inline constexpr char kAuthorizationKey[] = "authorization";
inline constexpr char kDigestKey[] = "synod-digest";
// Most synod-digest entries one call may carry (UNAUTHENTICATED beyond):
// each costs a SHA-1 and an identity in every command it sends.
inline constexpr size_t kMaxDigestCredentials = 8;

// The address part of a gRPC peer string: "ipv4:1.2.3.4:5" -> "1.2.3.4",
// "ipv6:[::1]:5" (or its URI form "ipv6:%5B::1%5D:5") -> "::1"; empty for
// anything else (a Unix socket, an in-process channel).
std::string PeerAddress(std::string_view peer);

// InvalidArgument unless options.superuser_digest is empty or of the form
// "user:base64(SHA-1)" (as storage::DigestId makes it), and token_ttl > 0.
absl::Status CheckAuthOptions(const AuthOptions& options);

class Authenticator {
 public:
  // The AuthState the replica has applied (never null; an empty one before
  // any auth command).
  using StateFn = std::function<std::shared_ptr<const v1::AuthState>()>;

  Authenticator(StateFn state, AuthOptions options);

  // The caller of a call: ip:<peer address>, x509:<CN and SANs> of a
  // verified client certificate, digest:<id> per synod-digest entry,
  // user:<name> for a valid token, and superuser if one of those is a
  // superuser. UNAUTHENTICATED (naming what is wrong, never a secret) for a
  // malformed credential, a token that is forged, expired, or for a user
  // deleted or with a password changed since it was issued.
  absl::StatusOr<v1::Caller> Resolve(const grpc::ServerContextBase& context) const;
  // The same for what Resolve reads from a context, for tests and for
  // transports that are not gRPC: metadata as (key, value) pairs.
  absl::StatusOr<v1::Caller> ResolveFrom(
      const std::multimap<std::string, std::string>& metadata, const std::string& peer_address,
      const std::vector<std::string>& x509_subjects) const;

  bool enabled() const;
  // The applied AuthState (never null).
  std::shared_ptr<const v1::AuthState> state() const;
  // OK if auth is disabled or the caller is the superuser; else
  // Unauthenticated for a caller with no identity but its address (it
  // presented no credentials), PermissionDenied for any other.
  absl::Status RequireAdmin(const v1::Caller& caller) const;
  // OK if auth is disabled or the caller has an identity other than ip;
  // else Unauthenticated.
  absl::Status RequireAuthenticated(const v1::Caller& caller) const;

  // A token for `user` (who just proved its password), valid until
  // *expires_at_ms. FailedPrecondition if the state has no token key yet
  // (auth never enabled): tokens need one.
  absl::StatusOr<std::string> IssueToken(const v1::User& user, int64_t now_ms,
                                         int64_t* expires_at_ms) const;

 private:
  StateFn state_;
  const AuthOptions options_;
};

}  // namespace synod::server
