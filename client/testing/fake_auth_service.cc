// FakeReplica's Auth service and the credential check of every call.
// Users, the auth switch and tokens are test state (FakeControl), not
// replicated commands, and passwords are compared in clear: the client
// tests need the wire behaviour (tokens, expiry, UNAUTHENTICATED, digest
// identities), not the server's hashing. What a node's ACL allows is
// decided by the server's code: storage::Permits for reads here, apply for
// writes (the caller is stamped into each command).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/testing/fake_replica.h"
#include "storage/acl.h"
#include "storage/node.h"
#include "storage/path.h"

namespace synod::client::testing {
namespace {

constexpr char kBearer[] = "Bearer ";

std::string Str(const grpc::string_ref& ref) { return std::string(ref.data(), ref.size()); }

}  // namespace

FakeReplica::Outcome FakeReplica::ResolveCaller(grpc::ServerContext* ctx,
                                                const std::string& method, v1::Caller* caller) {
  FakeCluster::Metadata seen;
  Outcome out;
  absl::MutexLock lock(&control_->mu);
  for (const auto& [key, value] : ctx->client_metadata()) {
    const std::string k = Str(key);
    const std::string v = Str(value);
    if (k != "authorization" && k != "synod-digest") continue;
    seen.emplace_back(k, v);
    if (k == "authorization") {
      auto it = v.rfind(kBearer, 0) == 0 ? control_->tokens.find(v.substr(sizeof(kBearer) - 1))
                                         : control_->tokens.end();
      if (it == control_->tokens.end()) {
        out = {v1::UNAUTHENTICATED, "unknown token", std::nullopt};
      } else if (it->second.second || control_->reject_tokens) {
        out = {v1::UNAUTHENTICATED, "token expired", std::nullopt};
      } else {
        v1::Identity* id = caller->add_ids();
        id->set_scheme("user");
        id->set_id(it->second.first);
        auto user = control_->users.find(it->second.first);
        if (user != control_->users.end() && user->second.superuser) caller->set_superuser(true);
      }
    } else {
      const size_t colon = v.find(':');
      if (colon == std::string::npos || colon == 0) {
        out = {v1::UNAUTHENTICATED, "synod-digest is not user:password", std::nullopt};
      } else {
        v1::Identity* id = caller->add_ids();
        id->set_scheme("digest");
        id->set_id(storage::DigestId(v.substr(0, colon), v.substr(colon + 1)));
      }
    }
  }
  control_->credentials[method].push_back(std::move(seen));
  return out;
}

v1::Caller FakeReplica::CallerOf(grpc::ServerContext* ctx) {
  v1::Caller caller;
  absl::MutexLock lock(&control_->mu);
  for (const auto& [key, value] : ctx->client_metadata()) {
    const std::string k = Str(key);
    const std::string v = Str(value);
    if (k == "authorization" && v.rfind(kBearer, 0) == 0) {
      auto it = control_->tokens.find(v.substr(sizeof(kBearer) - 1));
      if (it == control_->tokens.end() || it->second.second || control_->reject_tokens) continue;
      v1::Identity* id = caller.add_ids();
      id->set_scheme("user");
      id->set_id(it->second.first);
      auto user = control_->users.find(it->second.first);
      if (user != control_->users.end() && user->second.superuser) caller.set_superuser(true);
    } else if (k == "synod-digest" && v.find(':') != std::string::npos) {
      const size_t colon = v.find(':');
      v1::Identity* id = caller.add_ids();
      id->set_scheme("digest");
      id->set_id(storage::DigestId(v.substr(0, colon), v.substr(colon + 1)));
    }
  }
  return caller;
}

FakeReplica::Outcome FakeReplica::RequireAdmin(const v1::Caller& caller) {
  absl::MutexLock lock(&control_->mu);
  if (!control_->auth_enabled || caller.superuser()) return {};
  return {v1::PERMISSION_DENIED, "needs the admin right", std::nullopt};
}

grpc::Status FakeReplica::GetAcl(grpc::ServerContext* ctx, const v1::GetAclRequest* req,
                                 v1::GetAclResponse* resp) {
  return Serve(ctx, "GetAcl", *req, resp->mutable_header(), [&]() -> Outcome {
    if (absl::Status valid = storage::ValidatePath(req->path()); !valid.ok()) {
      return {v1::INVALID_PATH, std::string(valid.message()), std::nullopt};
    }
    if (Outcome wait = AwaitRead(ctx, req->read()); wait.code != v1::OK) return wait;
    absl::StatusOr<std::unique_ptr<storage::StateView>> view = state_->store()->NewView();
    if (!view.ok()) return {v1::INTERNAL, std::string(view.status().message()), std::nullopt};
    absl::StatusOr<std::optional<storage::Node>> node = (*view)->GetNode(req->path());
    if (!node.ok()) return {v1::INTERNAL, std::string(node.status().message()), std::nullopt};
    const uint64_t revision = (*view)->meta().applied_index;
    const v1::Caller caller = CallerOf(ctx);
    // As tree.proto: READ or ADMIN; a denial says nothing of the node.
    const bool admin = node->has_value() && storage::Permits((*node)->acl, storage::kPermAdmin, caller);
    if (node->has_value() && !admin && !storage::Permits((*node)->acl, storage::kPermRead, caller)) {
      return {v1::PERMISSION_DENIED, "", revision};
    }
    if (!node->has_value()) return {v1::NO_NODE, "", revision};
    storage::ToProto((*node)->acl, resp->mutable_acl());
    if (!admin) storage::RedactDigests(resp->mutable_acl());
    storage::ToProto((*node)->stat, resp->mutable_stat());
    return {v1::OK, "", revision};
  });
}

grpc::Status FakeReplica::SetAcl(grpc::ServerContext* ctx, const v1::SetAclRequest* req,
                                 v1::SetAclResponse* resp) {
  return Serve(ctx, "SetAcl", *req, resp->mutable_header(), [&] {
    v1::Command command;
    *command.mutable_txn()->add_ops()->mutable_set_acl() = req->op();
    *command.mutable_write() = req->write();
    *command.mutable_caller() = CallerOf(ctx);
    v1::CommandResult result;
    Outcome out = ProposeTxn(std::move(command), &result);
    if (out.code == v1::OK && result.results_size() > 0) {
      *resp->mutable_stat() = result.results(0).stat();
    }
    return out;
  });
}

grpc::Status FakeReplica::Authenticate(grpc::ServerContext* ctx,
                                       const v1::AuthenticateRequest* req,
                                       v1::AuthenticateResponse* resp) {
  return Serve(ctx, "Authenticate", *req, resp->mutable_header(), [&]() -> Outcome {
    absl::MutexLock lock(&control_->mu);
    auto it = control_->users.find(req->user());
    if (it == control_->users.end() || it->second.password != req->password()) {
      return {v1::UNAUTHENTICATED, "unknown user or wrong password", std::nullopt};
    }
    const std::string token = absl::StrCat("token-", ++control_->tokens_issued);
    const int64_t expires = absl::ToUnixMillis(absl::Now() + control_->token_ttl);
    control_->tokens[token] = {req->user(), false};
    resp->set_token(token);
    resp->set_expires_at_ms(expires);
    return {};
  });
}

grpc::Status FakeReplica::WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest* req,
                                 v1::WhoAmIResponse* resp) {
  return Serve(ctx, "WhoAmI", *req, resp->mutable_header(), [&]() -> Outcome {
    const v1::Caller caller = CallerOf(ctx);
    *resp->mutable_ids() = caller.ids();
    resp->set_superuser(caller.superuser());
    return {};
  });
}

grpc::Status FakeReplica::UserAdd(grpc::ServerContext* ctx, const v1::UserAddRequest* req,
                                  v1::UserAddResponse* resp) {
  return Serve(ctx, "UserAdd", *req, resp->mutable_header(), [&]() -> Outcome {
    if (Outcome admin = RequireAdmin(CallerOf(ctx)); admin.code != v1::OK) return admin;
    if (req->name().empty() || req->password().empty()) {
      return {v1::INVALID_ARGUMENT, "empty name or password", std::nullopt};
    }
    absl::MutexLock lock(&control_->mu);
    if (control_->users.contains(req->name())) return {v1::USER_EXISTS, req->name(), std::nullopt};
    control_->users[req->name()] = FakeControl::User{req->password(), req->superuser()};
    return {};
  });
}

grpc::Status FakeReplica::UserDelete(grpc::ServerContext* ctx, const v1::UserDeleteRequest* req,
                                     v1::UserDeleteResponse* resp) {
  return Serve(ctx, "UserDelete", *req, resp->mutable_header(), [&]() -> Outcome {
    if (Outcome admin = RequireAdmin(CallerOf(ctx)); admin.code != v1::OK) return admin;
    absl::MutexLock lock(&control_->mu);
    if (control_->users.erase(req->name()) == 0) {
      return {v1::USER_NOT_FOUND, req->name(), std::nullopt};
    }
    return {};
  });
}

grpc::Status FakeReplica::UserPasswd(grpc::ServerContext* ctx, const v1::UserPasswdRequest* req,
                                     v1::UserPasswdResponse* resp) {
  return Serve(ctx, "UserPasswd", *req, resp->mutable_header(), [&]() -> Outcome {
    if (Outcome admin = RequireAdmin(CallerOf(ctx)); admin.code != v1::OK) return admin;
    if (req->password().empty()) return {v1::INVALID_ARGUMENT, "empty password", std::nullopt};
    absl::MutexLock lock(&control_->mu);
    auto it = control_->users.find(req->name());
    if (it == control_->users.end()) return {v1::USER_NOT_FOUND, req->name(), std::nullopt};
    it->second.password = req->password();
    return {};
  });
}

grpc::Status FakeReplica::UserList(grpc::ServerContext* ctx, const v1::UserListRequest* req,
                                   v1::UserListResponse* resp) {
  return Serve(ctx, "UserList", *req, resp->mutable_header(), [&]() -> Outcome {
    if (Outcome admin = RequireAdmin(CallerOf(ctx)); admin.code != v1::OK) return admin;
    absl::MutexLock lock(&control_->mu);
    for (const auto& [name, user] : control_->users) {
      v1::UserInfo* info = resp->add_users();
      info->set_name(name);
      info->set_superuser(user.superuser);
    }
    return {};
  });
}

grpc::Status FakeReplica::AuthEnable(grpc::ServerContext* ctx, const v1::AuthEnableRequest* req,
                                     v1::AuthEnableResponse* resp) {
  return Serve(ctx, "AuthEnable", *req, resp->mutable_header(), [&]() -> Outcome {
    if (Outcome admin = RequireAdmin(CallerOf(ctx)); admin.code != v1::OK) return admin;
    absl::MutexLock lock(&control_->mu);
    bool superuser = false;
    for (const auto& [name, user] : control_->users) superuser |= user.superuser;
    if (!superuser) return {v1::FAILED_PRECONDITION, "no superuser exists", std::nullopt};
    control_->auth_enabled = true;
    return {};
  });
}

grpc::Status FakeReplica::AuthDisable(grpc::ServerContext* ctx,
                                      const v1::AuthDisableRequest* req,
                                      v1::AuthDisableResponse* resp) {
  return Serve(ctx, "AuthDisable", *req, resp->mutable_header(), [&]() -> Outcome {
    if (Outcome admin = RequireAdmin(CallerOf(ctx)); admin.code != v1::OK) return admin;
    absl::MutexLock lock(&control_->mu);
    control_->auth_enabled = false;
    return {};
  });
}

grpc::Status FakeReplica::AuthStatus(grpc::ServerContext* ctx, const v1::AuthStatusRequest* req,
                                     v1::AuthStatusResponse* resp) {
  return Serve(ctx, "AuthStatus", *req, resp->mutable_header(), [&]() -> Outcome {
    absl::MutexLock lock(&control_->mu);
    resp->set_enabled(control_->auth_enabled);
    return {};
  });
}

}  // namespace synod::client::testing
