#include "server/auth/authenticator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "grpcpp/security/auth_context.h"
#include "server/auth/token.h"
#include "storage/acl.h"

namespace synod::server {
namespace {

constexpr size_t kSha1Bytes = 20;
constexpr std::string_view kBearer = "Bearer ";

void AddIdentity(std::string_view scheme, std::string_view id, v1::Caller* caller) {
  for (const v1::Identity& have : caller->ids()) {
    if (have.scheme() == scheme && have.id() == id) return;
  }
  v1::Identity* identity = caller->add_ids();
  identity->set_scheme(std::string(scheme));
  identity->set_id(std::string(id));
}

bool HasCredentialIdentity(const v1::Caller& caller) {
  return std::any_of(caller.ids().begin(), caller.ids().end(),
                     [](const v1::Identity& id) { return id.scheme() != "ip"; });
}

}  // namespace

std::string PeerAddress(std::string_view peer) {
  if (peer.starts_with("ipv4:")) {
    peer.remove_prefix(5);
    const size_t colon = peer.rfind(':');
    return std::string(colon == std::string_view::npos ? peer : peer.substr(0, colon));
  }
  if (peer.starts_with("ipv6:")) {
    peer.remove_prefix(5);
    std::string text(peer);
    for (auto [from, to] : {std::pair{"%5B", "["}, {"%5b", "["}, {"%5D", "]"}, {"%5d", "]"}}) {
      for (size_t at = text.find(from); at != std::string::npos; at = text.find(from)) {
        text.replace(at, 3, to);
      }
    }
    const size_t open = text.find('[');
    const size_t close = text.find(']');
    if (open != 0 || close == std::string::npos) return "";
    return text.substr(1, close - 1);
  }
  return "";
}

absl::Status CheckAuthOptions(const AuthOptions& options) {
  if (options.token_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the token lifetime must be positive");
  }
  const std::string& digest = options.superuser_digest;
  if (digest.empty()) return absl::OkStatus();
  const size_t colon = digest.rfind(':');
  std::string raw;
  if (colon == std::string::npos || colon == 0 ||
      !absl::Base64Unescape(absl::string_view(digest).substr(colon + 1), &raw) ||
      raw.size() != kSha1Bytes) {
    return absl::InvalidArgumentError(
        "--superuser_digest must be user:base64(SHA-1(user:password)), as ZooKeeper's "
        "DigestAuthenticationProvider prints it");
  }
  return absl::OkStatus();
}

Authenticator::Authenticator(StateFn state, AuthOptions options)
    : state_(std::move(state)), options_(std::move(options)) {}

std::shared_ptr<const v1::AuthState> Authenticator::state() const {
  std::shared_ptr<const v1::AuthState> s = state_();
  if (s == nullptr) {
    static const auto* const kEmpty = new std::shared_ptr<const v1::AuthState>(
        std::make_shared<const v1::AuthState>());
    return *kEmpty;
  }
  return s;
}

bool Authenticator::enabled() const { return state()->enabled(); }

absl::StatusOr<v1::Caller> Authenticator::Resolve(const grpc::ServerContextBase& context) const {
  std::multimap<std::string, std::string> metadata;
  for (const auto& [key, value] : context.client_metadata()) {
    const std::string k(key.data(), key.size());
    if (k == kAuthorizationKey || k == kDigestKey) {
      metadata.emplace(k, std::string(value.data(), value.size()));
    }
  }
  std::vector<std::string> subjects;
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property : {"x509_common_name", "x509_subject_alternative_name"}) {
      for (const grpc::string_ref& v : auth->FindPropertyValues(property)) {
        subjects.emplace_back(v.data(), v.size());
      }
    }
  }
  return ResolveFrom(metadata, PeerAddress(context.peer()), subjects);
}

absl::StatusOr<v1::Caller> Authenticator::ResolveFrom(
    const std::multimap<std::string, std::string>& metadata, const std::string& peer_address,
    const std::vector<std::string>& x509_subjects) const {
  v1::Caller caller;
  if (!peer_address.empty()) AddIdentity("ip", peer_address, &caller);
  for (const std::string& subject : x509_subjects) {
    if (!subject.empty()) AddIdentity("x509", subject, &caller);
  }
  auto [digest_begin, digest_end] = metadata.equal_range(kDigestKey);
  if (std::distance(digest_begin, digest_end) > static_cast<long>(kMaxDigestCredentials)) {
    return absl::UnauthenticatedError(
        absl::StrCat("more than ", kMaxDigestCredentials, " synod-digest credentials"));
  }
  for (auto it = digest_begin; it != digest_end; ++it) {
    const std::string& credential = it->second;
    const size_t colon = credential.find(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::UnauthenticatedError("malformed synod-digest: want user:password");
    }
    const std::string id = storage::DigestId(std::string_view(credential).substr(0, colon),
                                             std::string_view(credential).substr(colon + 1));
    AddIdentity("digest", id, &caller);
    if (!options_.superuser_digest.empty() && id == options_.superuser_digest) {
      caller.set_superuser(true);
    }
  }
  auto [token_begin, token_end] = metadata.equal_range(kAuthorizationKey);
  if (token_begin != token_end) {
    if (std::next(token_begin) != token_end) {
      return absl::UnauthenticatedError("more than one authorization header");
    }
    std::string_view value = token_begin->second;
    if (!value.starts_with(kBearer)) {
      return absl::UnauthenticatedError("malformed authorization: want \"Bearer <token>\"");
    }
    value.remove_prefix(kBearer.size());
    const std::shared_ptr<const v1::AuthState> state = this->state();
    absl::StatusOr<const v1::User*> user = VerifyToken(*state, value, absl::ToUnixMillis(absl::Now()));
    if (!user.ok()) return user.status();
    AddIdentity("user", (*user)->name(), &caller);
    if ((*user)->superuser()) caller.set_superuser(true);
  }
  return caller;
}

absl::Status Authenticator::RequireAdmin(const v1::Caller& caller) const {
  if (caller.superuser() || !enabled()) return absl::OkStatus();
  if (!HasCredentialIdentity(caller)) {
    return absl::UnauthenticatedError(
        "authentication is enabled: this operation needs a superuser's credentials");
  }
  return absl::PermissionDeniedError("this operation needs the admin right (a superuser)");
}

absl::Status Authenticator::RequireAuthenticated(const v1::Caller& caller) const {
  if (!enabled() || HasCredentialIdentity(caller)) return absl::OkStatus();
  return absl::UnauthenticatedError("authentication is enabled: this operation needs credentials");
}

absl::StatusOr<std::string> Authenticator::IssueToken(const v1::User& user, int64_t now_ms,
                                                      int64_t* expires_at_ms) const {
  const std::shared_ptr<const v1::AuthState> state = this->state();
  if (state->token_key().empty()) {
    return absl::FailedPreconditionError(
        "no token key yet: tokens are issued once a user was added");
  }
  TokenClaims claims;
  claims.user = user.name();
  claims.password_revision = user.password_revision();
  claims.expires_at_ms = now_ms + absl::ToInt64Milliseconds(options_.token_ttl);
  absl::StatusOr<std::string> token = SignToken(state->token_key(), claims);
  if (!token.ok()) return token.status();
  if (expires_at_ms != nullptr) *expires_at_ms = claims.expires_at_ms;
  return token;
}

}  // namespace synod::server
