// Credentials: what every call of one Client authenticates with
// (proto/synod/v1/auth.proto): the ZooKeeper digests of Options::digests
// ("synod-digest: user:password", fixed) and, with Options::user, a token
// from Auth.Authenticate ("authorization: Bearer <token>").
//
// Promises: one Authenticate call in flight at a time, shared by every call
// that waits for a token; a token is used until shortly before its
// expires_at_ms (then the next call authenticates again first) or until a
// call that carried it fails UNAUTHENTICATED (Invalidate). The password is
// sent only in Authenticate and never appears in a status or a log.
//
// Thread-safety: every method from any thread; callbacks run without the
// lock held, on the caller's thread or the Authenticate call's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "synod/client.h"

namespace synod::client {

class ClientCore;

// The metadata one call carries, (key, value) in order.
struct CallMetadata {
  std::vector<std::pair<std::string, std::string>> entries;
  std::string token;  // the Bearer token among them; empty if none
  bool operator==(const CallMetadata&) const = default;
};
void AttachMetadata(const CallMetadata& metadata, grpc::ClientContext* ctx);

// InvalidArgument for a user without a password (or the reverse) or a
// digest that is not "user:password" with a non-empty user.
absl::Status ValidateCredentialOptions(const Client::Options& options);

class Credentials {
 public:
  using Ready = std::function<void(absl::StatusOr<CallMetadata>)>;

  // How long before expires_at_ms a token is renewed: a tenth of its
  // lifetime, at most this much.
  static constexpr absl::Duration kMaxRenewMargin = absl::Seconds(60);

  explicit Credentials(const Client::Options& options);

  bool has_user() const { return !user_.empty(); }
  // The metadata to send now, without waiting: the current token, if any
  // (for streams, which cannot wait for one).
  CallMetadata Current() const;
  // Calls `ready` with metadata that carries a token valid now (after
  // authenticating on `core` if there is none or it is about to expire;
  // inline when nothing needs waiting). Errors: Authenticate's
  // (UNAUTHENTICATED for a wrong user or password, UNAVAILABLE /
  // DEADLINE_EXCEEDED when no replica answered by `deadline`).
  void Get(ClientCore* core, absl::Time deadline, Ready ready);
  // A call that carried `used` failed UNAUTHENTICATED: its token is
  // forgotten (unless a newer one replaced it already).
  void Invalidate(const CallMetadata& used);

 private:
  void Authenticate(ClientCore* core, absl::Time deadline);
  void OnAuthenticated(absl::StatusOr<std::pair<std::string, int64_t>> result);
  CallMetadata MetadataLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string user_;
  const std::string password_;
  const std::vector<std::string> digests_;

  mutable absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time renew_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool authenticating_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Ready> waiting_ ABSL_GUARDED_BY(mu_);  // bounded by the calls in flight
};

}  // namespace synod::client
