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
  // OK if auth is disabled or the caller is the superuser; else
  // PermissionDenied.
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
  AuthOptions options_;
};

}  // namespace synod::server
