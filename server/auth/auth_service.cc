#include "server/auth/auth_service.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/error_mapping.h"
#include "server/services/reply.h"

namespace synod::server {
namespace {

constexpr size_t kMaxUserNameBytes = 128;
constexpr size_t kTokenKeyBytes = 32;

const v1::User* FindUser(const v1::AuthState& state, const std::string& name) {
  for (const v1::User& u : state.users()) {
    if (u.name() == name) return &u;
  }
  return nullptr;
}

bool HasSuperuserUser(const v1::AuthState& state) {
  return std::any_of(state.users().begin(), state.users().end(),
                     [](const v1::User& u) { return u.superuser(); });
}

bool IsUser(const v1::Caller& caller, const std::string& name) {
  return std::any_of(caller.ids().begin(), caller.ids().end(), [&](const v1::Identity& id) {
    return id.scheme() == "user" && id.id() == name;
  });
}

// What a code from apply means for these commands (CommandResult has no
// message of its own).
std::string Explain(v1::ErrorCode code, const std::string& name) {
  switch (code) {
    case v1::OK:
      return "";
    case v1::USER_EXISTS:
      return absl::StrCat("user ", name, " exists");
    case v1::USER_NOT_FOUND:
      return absl::StrCat("no user ", name);
    case v1::PERMISSION_DENIED:
      return "refused where it applied: the caller lacks the admin right";
    case v1::FAILED_PRECONDITION:
      return "refused where it applied: auth needs a superuser user while it is enabled";
    case v1::INVALID_ARGUMENT:
      return "refused where it applied: the replicas do not apply this command";
    default:
      return "";
  }
}

}  // namespace

absl::Status CheckUserName(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a user name has 1 to ", kMaxUserNameBytes, " bytes"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
        c != '@') {
      return absl::InvalidArgumentError("a user name has only letters, digits and . _ - @");
    }
  }
  return absl::OkStatus();
}

AuthService::AuthService(Options options, const Authenticator* auth, const ReplicaState* state,
                         ProposeFn propose)
    : options_(options),
      auth_(auth),
      state_(state),
      propose_(std::move(propose)),
      workers_(options.hash_threads, options.max_queued) {}

AuthService::~AuthService() { Stop(); }

void AuthService::Stop() { workers_.Stop(); }

absl::Time AuthService::Deadline(const grpc::CallbackServerContext* context) const {
  const absl::Time cap = absl::Now() + options_.request_timeout;
  const auto client = context->deadline();
  if (client == std::chrono::system_clock::time_point::max()) return cap;
  return std::min(cap, absl::FromChrono(client));
}

template <typename Response>
void AuthService::Propose(absl::Time deadline, v1::Command command, const v1::Caller& caller,
                          grpc::ServerUnaryReactor* reactor, Response* response) {
  *command.mutable_caller() = caller;
  std::string name;
  if (command.has_user_put()) name = command.user_put().user().name();
  if (command.has_user_delete()) name = command.user_delete().name();
  const ReplicaState* state = state_;
  propose_(deadline, std::move(command), [reactor, response, state, name](const Outcome& o) {
    const v1::ErrorCode code = o.result != nullptr ? o.result->code() : o.code;
    std::string message = o.message;
    if (o.result != nullptr) message = Explain(code, name);
    FinishReply(reactor, response, *state, code, message);
  });
}

grpc::ServerUnaryReactor* AuthService::Authenticate(grpc::CallbackServerContext* context,
                                                    const v1::AuthenticateRequest* request,
                                                    v1::AuthenticateResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->user().empty() || request->password().empty()) {
    FinishReply(reactor, response, *state_, v1::INVALID_ARGUMENT, "a user and a password");
    return reactor;
  }
  const Authenticator* auth = auth_;
  const ReplicaState* state = state_;
  const bool queued = workers_.TrySubmit([auth, state, reactor, request, response] {
    const std::shared_ptr<const v1::AuthState> users = auth->state();
    const v1::User* user = FindUser(*users, request->user());
    bool ok = false;
    if (user != nullptr) {
      ok = CheckPassword(*user, request->password());
    } else {
      BurnPasswordCheck(request->password());
    }
    if (!ok) {
      FinishReply(reactor, response, *state, v1::UNAUTHENTICATED, "unknown user or wrong password");
      return;
    }
    int64_t expires_at_ms = 0;
    absl::StatusOr<std::string> token =
        auth->IssueToken(*user, absl::ToUnixMillis(absl::Now()), &expires_at_ms);
    if (!token.ok()) {
      FinishReply(reactor, response, *state, ErrorCodeFor(token.status()),
                  std::string(token.status().message()));
      return;
    }
    response->set_token(*std::move(token));
    response->set_expires_at_ms(expires_at_ms);
    FinishReply(reactor, response, *state);
  });
  if (!queued) {
    FinishReply(reactor, response, *state_, v1::RESOURCE_EXHAUSTED,
                "too many password checks waiting; retry later");
  }
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::WhoAmI(grpc::CallbackServerContext* context,
                                              const v1::WhoAmIRequest*,
                                              v1::WhoAmIResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Caller> caller = auth_->Resolve(*context);
  if (!caller.ok()) {
    FinishReply(reactor, response, *state_, v1::UNAUTHENTICATED,
                std::string(caller.status().message()));
    return reactor;
  }
  *response->mutable_ids() = caller->ids();
  response->set_superuser(caller->superuser());
  FinishReply(reactor, response, *state_);
  return reactor;
}

template <typename Response>
grpc::ServerUnaryReactor* AuthService::PutUser(grpc::CallbackServerContext* context,
                                               v1::Caller caller, std::string name,
                                               std::string password, bool superuser, bool create,
                                               Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time deadline = Deadline(context);
  const uint32_t iterations = options_.iterations;
  const bool queued = workers_.TrySubmit([this, reactor, response, deadline, iterations,
                                          caller = std::move(caller), name = std::move(name),
                                          password = std::move(password), superuser, create] {
    v1::Command command;
    v1::UserPutCommand* put = command.mutable_user_put();
    put->set_create(create);
    put->mutable_user()->set_name(name);
    put->mutable_user()->set_superuser(superuser);
    absl::Status hashed = HashPassword(password, iterations, put->mutable_user());
    absl::StatusOr<std::string> key = RandomBytes(kTokenKeyBytes);
    if (hashed.ok() && !key.ok()) hashed = key.status();
    if (!hashed.ok()) {
      FinishReply(reactor, response, *state_, ErrorCodeFor(hashed),
                  std::string(hashed.message()));
      return;
    }
    put->set_token_key(*std::move(key));
    Propose(deadline, std::move(command), caller, reactor, response);
  });
  if (!queued) {
    FinishReply(reactor, response, *state_, v1::RESOURCE_EXHAUSTED,
                "too many password changes waiting; retry later");
  }
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::UserAdd(grpc::CallbackServerContext* context,
                                               const v1::UserAddRequest* request,
                                               v1::UserAddResponse* response) {
  absl::StatusOr<v1::Caller> caller = auth_->Resolve(*context);
  absl::Status s = caller.ok() ? auth_->RequireAdmin(*caller) : caller.status();
  if (s.ok()) s = CheckUserName(request->name());
  if (s.ok() && request->password().empty()) s = absl::InvalidArgumentError("empty password");
  if (s.ok() && request->password().size() > kMaxPasswordBytes) {
    s = absl::InvalidArgumentError(absl::StrCat("password longer than ", kMaxPasswordBytes, " bytes"));
  }
  if (s.ok() && FindUser(*auth_->state(), request->name()) != nullptr) {
    s = absl::AlreadyExistsError(absl::StrCat("user ", request->name(), " exists"));
  }
  if (!s.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const v1::ErrorCode code =
        s.code() == absl::StatusCode::kAlreadyExists ? v1::USER_EXISTS : ErrorCodeFor(s);
    FinishReply(reactor, response, *state_, code, std::string(s.message()));
    return reactor;
  }
  return PutUser(context, *std::move(caller), request->name(), request->password(),
                 request->superuser(), /*create=*/true, response);
}

grpc::ServerUnaryReactor* AuthService::UserPasswd(grpc::CallbackServerContext* context,
                                                  const v1::UserPasswdRequest* request,
                                                  v1::UserPasswdResponse* response) {
  absl::StatusOr<v1::Caller> caller = auth_->Resolve(*context);
  absl::Status s = caller.status();
  if (s.ok() && !IsUser(*caller, request->name())) s = auth_->RequireAdmin(*caller);
  if (s.ok()) s = CheckUserName(request->name());
  if (s.ok() && request->password().empty()) s = absl::InvalidArgumentError("empty password");
  if (s.ok() && request->password().size() > kMaxPasswordBytes) {
    s = absl::InvalidArgumentError(absl::StrCat("password longer than ", kMaxPasswordBytes, " bytes"));
  }
  bool superuser = false;
  if (s.ok()) {
    const std::shared_ptr<const v1::AuthState> users = auth_->state();
    const v1::User* user = FindUser(*users, request->name());
    if (user == nullptr) {
      s = absl::NotFoundError(absl::StrCat("no user ", request->name()));
    } else {
      superuser = user->superuser();  // a password change keeps the role
    }
  }
  if (!s.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const v1::ErrorCode code =
        s.code() == absl::StatusCode::kNotFound ? v1::USER_NOT_FOUND : ErrorCodeFor(s);
    FinishReply(reactor, response, *state_, code, std::string(s.message()));
    return reactor;
  }
  return PutUser(context, *std::move(caller), request->name(), request->password(), superuser,
                 /*create=*/false, response);
}

grpc::ServerUnaryReactor* AuthService::UserDelete(grpc::CallbackServerContext* context,
                                                  const v1::UserDeleteRequest* request,
                                                  v1::UserDeleteResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Caller> caller = auth_->Resolve(*context);
  absl::Status s = caller.ok() ? auth_->RequireAdmin(*caller) : caller.status();
  if (s.ok()) s = CheckUserName(request->name());
  if (s.ok() && FindUser(*auth_->state(), request->name()) == nullptr) {
    s = absl::NotFoundError(absl::StrCat("no user ", request->name()));
  }
  if (!s.ok()) {
    const v1::ErrorCode code =
        s.code() == absl::StatusCode::kNotFound ? v1::USER_NOT_FOUND : ErrorCodeFor(s);
    FinishReply(reactor, response, *state_, code, std::string(s.message()));
    return reactor;
  }
  v1::Command command;
  command.mutable_user_delete()->set_name(request->name());
  Propose(Deadline(context), std::move(command), *caller, reactor, response);
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::UserList(grpc::CallbackServerContext* context,
                                                const v1::UserListRequest*,
                                                v1::UserListResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Caller> caller = auth_->Resolve(*context);
  absl::Status s = caller.ok() ? auth_->RequireAdmin(*caller) : caller.status();
  if (!s.ok()) {
    FinishReply(reactor, response, *state_, ErrorCodeFor(s), std::string(s.message()));
    return reactor;
  }
  const std::shared_ptr<const v1::AuthState> users = auth_->state();
  for (const v1::User& u : users->users()) {
    v1::UserInfo* info = response->add_users();
    info->set_name(u.name());
    info->set_superuser(u.superuser());
  }
  std::sort(response->mutable_users()->begin(), response->mutable_users()->end(),
            [](const v1::UserInfo& a, const v1::UserInfo& b) { return a.name() < b.name(); });
  FinishReply(reactor, response, *state_);
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::AuthEnable(grpc::CallbackServerContext* context,
                                                  const v1::AuthEnableRequest*,
                                                  v1::AuthEnableResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Caller> caller = auth_->Resolve(*context);
  absl::Status s = caller.ok() ? auth_->RequireAdmin(*caller) : caller.status();
  if (s.ok() && !HasSuperuserUser(*auth_->state())) {
    s = absl::FailedPreconditionError(
        "auth enable needs a superuser user first (synodctl user add --superuser)");
  }
  absl::StatusOr<std::string> key = RandomBytes(kTokenKeyBytes);
  if (s.ok() && !key.ok()) s = key.status();
  if (!s.ok()) {
    FinishReply(reactor, response, *state_, ErrorCodeFor(s), std::string(s.message()));
    return reactor;
  }
  v1::Command command;
  command.mutable_auth_set()->set_enabled(true);
  command.mutable_auth_set()->set_token_key(*std::move(key));
  Propose(Deadline(context), std::move(command), *caller, reactor, response);
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::AuthDisable(grpc::CallbackServerContext* context,
                                                   const v1::AuthDisableRequest*,
                                                   v1::AuthDisableResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Caller> caller = auth_->Resolve(*context);
  absl::Status s = caller.ok() ? auth_->RequireAdmin(*caller) : caller.status();
  if (!s.ok()) {
    FinishReply(reactor, response, *state_, ErrorCodeFor(s), std::string(s.message()));
    return reactor;
  }
  v1::Command command;
  command.mutable_auth_set()->set_enabled(false);
  Propose(Deadline(context), std::move(command), *caller, reactor, response);
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::AuthStatus(grpc::CallbackServerContext* context,
                                                  const v1::AuthStatusRequest*,
                                                  v1::AuthStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  response->set_enabled(auth_->enabled());
  FinishReply(reactor, response, *state_);
  return reactor;
}

}  // namespace synod::server
