#include "client/src/credentials.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "client/src/core.h"
#include "client/src/unary_call.h"
#include "synod/v1/auth.grpc.pb.h"

namespace synod::client {

void AttachMetadata(const CallMetadata& metadata, grpc::ClientContext* ctx) {
  for (const auto& [key, value] : metadata.entries) ctx->AddMetadata(key, value);
}

absl::Status ValidateCredentialOptions(const Client::Options& options) {
  if (options.user.empty() != options.password.empty()) {
    return absl::InvalidArgumentError(options.user.empty() ? "a password needs a user"
                                                           : "user needs a password");
  }
  for (size_t i = 0; i < options.digests.size(); ++i) {
    const std::string& d = options.digests[i];
    const size_t colon = d.find(':');
    // Only the position is named: the text holds a password.
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("digest ", i + 1, " is not user:password"));
    }
  }
  return absl::OkStatus();
}

Credentials::Credentials(const Client::Options& options)
    : user_(options.user), password_(options.password), digests_(options.digests) {}

CallMetadata Credentials::MetadataLocked() const {
  CallMetadata md;
  if (!token_.empty()) {
    md.token = token_;
    md.entries.emplace_back("authorization", absl::StrCat("Bearer ", token_));
  }
  for (const std::string& d : digests_) md.entries.emplace_back("synod-digest", d);
  return md;
}

CallMetadata Credentials::Current() const {
  absl::MutexLock lock(&mu_);
  return MetadataLocked();
}

void Credentials::Get(ClientCore* core, absl::Time deadline, Ready ready) {
  CallMetadata md;
  bool start = false;
  {
    absl::MutexLock lock(&mu_);
    if (user_.empty() || (!token_.empty() && absl::Now() < renew_at_)) {
      md = MetadataLocked();
    } else {
      waiting_.push_back(std::move(ready));
      if (authenticating_) return;
      authenticating_ = start = true;
      token_.clear();
    }
  }
  if (start) {
    Authenticate(core, deadline);
    return;
  }
  ready(std::move(md));
}

void Credentials::Invalidate(const CallMetadata& used) {
  absl::MutexLock lock(&mu_);
  if (!used.token.empty() && used.token == token_) token_.clear();
}

void Credentials::Authenticate(ClientCore* core, absl::Time deadline) {
  RpcSpec<v1::AuthenticateRequest, v1::AuthenticateResponse> spec;
  spec.method = [](Endpoint& ep, grpc::ClientContext* ctx, const v1::AuthenticateRequest* req,
                   v1::AuthenticateResponse* resp, std::function<void(grpc::Status)> done) {
    ep.auth->async()->Authenticate(ctx, req, resp, std::move(done));
  };
  spec.anonymous = true;  // carries the password itself
  v1::AuthenticateRequest req;
  req.set_user(user_);
  req.set_password(password_);
  StartCall<v1::AuthenticateRequest, v1::AuthenticateResponse>(
      core, std::move(spec), std::move(req), deadline,
      [this](absl::StatusOr<v1::AuthenticateResponse> resp) {
        if (!resp.ok()) {
          OnAuthenticated(resp.status());
          return;
        }
        OnAuthenticated(std::make_pair(resp->token(), resp->expires_at_ms()));
      });
}

void Credentials::OnAuthenticated(absl::StatusOr<std::pair<std::string, int64_t>> result) {
  std::vector<Ready> waiting;
  absl::StatusOr<CallMetadata> md;
  {
    absl::MutexLock lock(&mu_);
    authenticating_ = false;
    waiting.swap(waiting_);
    if (result.ok() && result->first.empty()) {
      result = SynodError(ErrorCode::kInternal, "Authenticate returned no token");
    }
    if (result.ok()) {
      const absl::Time now = absl::Now();
      const absl::Time expires = absl::FromUnixMillis(result->second);
      const absl::Duration margin = std::min(kMaxRenewMargin, (expires - now) / 10);
      token_ = result->first;
      renew_at_ = expires - std::max(margin, absl::ZeroDuration());
      md = MetadataLocked();
    } else {
      // "CODE: authenticating as NAME: detail", the Synod code kept.
      const ErrorCode code = ErrorCodeOf(result.status());
      absl::string_view detail = result.status().message();
      absl::ConsumePrefix(&detail, absl::StrCat(ErrorCodeName(code), ": "));
      const std::string message = absl::StrCat("authenticating as ", user_, ": ", detail);
      absl::Status failed = code == ErrorCode::kUnknown
                                ? absl::Status(result.status().code(), message)
                                : SynodError(code, message);
      md = std::move(failed);
    }
  }
  for (Ready& r : waiting) r(md);
}

}  // namespace synod::client
