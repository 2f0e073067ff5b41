// synod::Client: ACLs (Tree.GetAcl / SetAcl) and the Auth service (who am
// I, users, the auth switch).
#include <string>
#include <vector>

#include "client/src/client_impl.h"
#include "client/src/convert.h"
#include "synod/v1/auth.grpc.pb.h"

namespace synod {

using client::Endpoint;
using client::RpcSpec;

namespace {

#define SYNOD_AUTH_METHOD(Name)                                                   \
  [](Endpoint& ep, grpc::ClientContext* ctx, const v1::Name##Request* req,        \
     v1::Name##Response* resp, std::function<void(grpc::Status)> done) {          \
    ep.auth->async()->Name(ctx, req, resp, std::move(done));                      \
  }

// User and auth-switch changes go through the log without a session, as
// membership changes do: retried only when the replica did not propose.
template <typename Req, typename Resp>
RpcSpec<Req, Resp> AuthChangeSpec(client::AsyncMethod<Req, Resp> method) {
  RpcSpec<Req, Resp> spec = WriteSpec<Req, Resp>(method);
  spec.retry = client::RetryPolicy::kNotProposedOnly;
  return spec;
}

template <typename Resp>
absl::StatusOr<bool> NoValue(Resp& /*resp*/) {
  return true;
}

}  // namespace

absl::StatusOr<AclResult> Client::GetAcl(absl::string_view path, const ReadOptions& options,
                                         const CallOptions& call) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) return s;
  v1::GetAclRequest req;
  req.set_path(std::string(path));
  client::ToProto(options, impl_->core().last_revision(), req.mutable_read());
  return Impl::Wait<AclResult>([&](Impl::Done<AclResult> done) {
    impl_->Run<v1::GetAclRequest, v1::GetAclResponse, AclResult>(
        ReadSpec<v1::GetAclRequest, v1::GetAclResponse>(SYNOD_TREE_METHOD(GetAcl)), std::move(req),
        impl_->DeadlineOf(call),
        [](v1::GetAclResponse& r) -> absl::StatusOr<AclResult> {
          return AclResult{client::FromProto(r.acl()), client::FromProto(r.stat()),
                           r.header().revision()};
        },
        NamingPath(path, std::move(done)));
  });
}

absl::StatusOr<SetResult> Client::SetAcl(absl::string_view path, const std::vector<AclEntry>& acl,
                                         int64_t expected_aversion, const CallOptions& call) {
  if (absl::Status s = client::CheckPath(path); !s.ok()) return s;
  v1::SetAclRequest req;
  req.mutable_op()->set_path(std::string(path));
  client::ToProto(acl, req.mutable_op()->mutable_acl());
  if (expected_aversion != -1) req.mutable_op()->set_expected_aversion(expected_aversion);
  return Impl::Wait<SetResult>([&](Impl::Done<SetResult> done) {
    impl_->RunWrite<v1::SetAclRequest, v1::SetAclResponse, SetResult>(
        /*needs_session=*/false,
        WriteSpec<v1::SetAclRequest, v1::SetAclResponse>(SYNOD_TREE_METHOD(SetAcl)), std::move(req),
        impl_->DeadlineOf(call),
        [](v1::SetAclResponse& r) -> absl::StatusOr<SetResult> {
          return SetResult{client::FromProto(r.stat()), r.header().revision()};
        },
        NamingPath(path, std::move(done)));
  });
}

absl::StatusOr<WhoAmIResult> Client::WhoAmI(const CallOptions& call) {
  return Impl::Wait<WhoAmIResult>([&](Impl::Done<WhoAmIResult> done) {
    impl_->Run<v1::WhoAmIRequest, v1::WhoAmIResponse, WhoAmIResult>(
        ReadSpec<v1::WhoAmIRequest, v1::WhoAmIResponse>(SYNOD_AUTH_METHOD(WhoAmI)),
        v1::WhoAmIRequest(), impl_->DeadlineOf(call),
        [](v1::WhoAmIResponse& r) -> absl::StatusOr<WhoAmIResult> {
          WhoAmIResult out;
          for (const v1::Identity& id : r.ids()) out.ids.push_back({id.scheme(), id.id()});
          out.superuser = r.superuser();
          return out;
        },
        std::move(done));
  });
}

absl::Status Client::UserAdd(absl::string_view name, absl::string_view password, bool superuser,
                             const CallOptions& call) {
  v1::UserAddRequest req;
  req.set_name(std::string(name));
  req.set_password(std::string(password));
  req.set_superuser(superuser);
  return Impl::Wait<bool>([&](Impl::Done<bool> done) {
           impl_->Run<v1::UserAddRequest, v1::UserAddResponse, bool>(
               AuthChangeSpec<v1::UserAddRequest, v1::UserAddResponse>(SYNOD_AUTH_METHOD(UserAdd)),
               std::move(req), impl_->DeadlineOf(call), NoValue<v1::UserAddResponse>,
               std::move(done));
         })
      .status();
}

absl::Status Client::UserDelete(absl::string_view name, const CallOptions& call) {
  v1::UserDeleteRequest req;
  req.set_name(std::string(name));
  return Impl::Wait<bool>([&](Impl::Done<bool> done) {
           impl_->Run<v1::UserDeleteRequest, v1::UserDeleteResponse, bool>(
               AuthChangeSpec<v1::UserDeleteRequest, v1::UserDeleteResponse>(
                   SYNOD_AUTH_METHOD(UserDelete)),
               std::move(req), impl_->DeadlineOf(call), NoValue<v1::UserDeleteResponse>,
               std::move(done));
         })
      .status();
}

absl::Status Client::UserPasswd(absl::string_view name, absl::string_view password,
                                const CallOptions& call) {
  v1::UserPasswdRequest req;
  req.set_name(std::string(name));
  req.set_password(std::string(password));
  return Impl::Wait<bool>([&](Impl::Done<bool> done) {
           impl_->Run<v1::UserPasswdRequest, v1::UserPasswdResponse, bool>(
               AuthChangeSpec<v1::UserPasswdRequest, v1::UserPasswdResponse>(
                   SYNOD_AUTH_METHOD(UserPasswd)),
               std::move(req), impl_->DeadlineOf(call), NoValue<v1::UserPasswdResponse>,
               std::move(done));
         })
      .status();
}

absl::StatusOr<std::vector<UserInfo>> Client::UserList(const CallOptions& call) {
  return Impl::Wait<std::vector<UserInfo>>([&](Impl::Done<std::vector<UserInfo>> done) {
    impl_->Run<v1::UserListRequest, v1::UserListResponse, std::vector<UserInfo>>(
        ReadSpec<v1::UserListRequest, v1::UserListResponse>(SYNOD_AUTH_METHOD(UserList)),
        v1::UserListRequest(), impl_->DeadlineOf(call),
        [](v1::UserListResponse& r) -> absl::StatusOr<std::vector<UserInfo>> {
          std::vector<UserInfo> out;
          for (const v1::UserInfo& u : r.users()) out.push_back({u.name(), u.superuser()});
          return out;
        },
        std::move(done));
  });
}

absl::Status Client::AuthEnable(const CallOptions& call) {
  return Impl::Wait<bool>([&](Impl::Done<bool> done) {
           impl_->Run<v1::AuthEnableRequest, v1::AuthEnableResponse, bool>(
               AuthChangeSpec<v1::AuthEnableRequest, v1::AuthEnableResponse>(
                   SYNOD_AUTH_METHOD(AuthEnable)),
               v1::AuthEnableRequest(), impl_->DeadlineOf(call), NoValue<v1::AuthEnableResponse>,
               std::move(done));
         })
      .status();
}

absl::Status Client::AuthDisable(const CallOptions& call) {
  return Impl::Wait<bool>([&](Impl::Done<bool> done) {
           impl_->Run<v1::AuthDisableRequest, v1::AuthDisableResponse, bool>(
               AuthChangeSpec<v1::AuthDisableRequest, v1::AuthDisableResponse>(
                   SYNOD_AUTH_METHOD(AuthDisable)),
               v1::AuthDisableRequest(), impl_->DeadlineOf(call), NoValue<v1::AuthDisableResponse>,
               std::move(done));
         })
      .status();
}

absl::StatusOr<bool> Client::AuthStatus(const CallOptions& call) {
  return Impl::Wait<bool>([&](Impl::Done<bool> done) {
    impl_->Run<v1::AuthStatusRequest, v1::AuthStatusResponse, bool>(
        ReadSpec<v1::AuthStatusRequest, v1::AuthStatusResponse>(SYNOD_AUTH_METHOD(AuthStatus)),
        v1::AuthStatusRequest(), impl_->DeadlineOf(call),
        [](v1::AuthStatusResponse& r) -> absl::StatusOr<bool> { return r.enabled(); },
        std::move(done));
  });
}

}  // namespace synod
