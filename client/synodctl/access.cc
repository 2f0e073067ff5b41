// synodctl's access commands: acl get/set, whoami, auth enable/disable/
// status, user add/delete/passwd/list. ACL text is ZooKeeper's
// ("scheme:id:perms,...", perms from "cdrwa"), read and written by
// storage/acl so that synodctl, the server and ZooKeeper tools agree.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/synodctl/commands.h"
#include "storage/acl.h"

namespace synod::ctl {
namespace {

std::string FormatEntry(const AclEntry& e) {
  v1::Acl a;
  a.set_perms(e.perms);
  a.set_scheme(e.scheme);
  a.set_id(e.id);
  return storage::FormatAcl(a);
}

// The password of user NAME for user add / passwd: $SYNOD_NEW_PASSWORD, or
// $SYNOD_PASSWORD when no --user logs in with it, else a prompt.
absl::StatusOr<std::string> NewPassword(Ctx& ctx) {
  const std::string& name = ctx.args().user_name;
  const std::string prompt = absl::StrCat("New password for ", name, ": ");
  const std::string what = absl::StrCat("user ", name);
  if (ctx.io().getenv) {
    if (auto v = ctx.io().getenv("SYNOD_NEW_PASSWORD"); v.has_value() && !v->empty()) return *v;
  }
  if (!ctx.args().user.has_value()) return ctx.Secret("SYNOD_PASSWORD", prompt, what);
  return ctx.Secret("SYNOD_NEW_PASSWORD", prompt, what);
}

absl::Status PrintOk(Ctx& ctx, const std::string& what) {
  if (ctx.json()) {
    Json j;
    j["ok"] = true;
    ctx.io().Out(JsonLine(j));
  } else {
    ctx.io().Out(absl::StrCat("OK ", what, "\n"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<AclEntry>> ParseAclText(const std::string& text,
                                                   const std::string& flag) {
  absl::StatusOr<std::vector<v1::Acl>> parsed = storage::ParseAclList(text);
  if (!parsed.ok()) return UsageError(absl::StrCat(flag, ": ", parsed.status().message()));
  std::vector<AclEntry> out;
  for (const v1::Acl& a : *parsed) out.push_back(AclEntry{a.perms(), a.scheme(), a.id()});
  return out;
}

absl::Status CmdAclGet(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  ReadOptions read;
  read.consistency = ctx.args().consistency;
  absl::StatusOr<AclResult> r = (*client)->GetAcl(ctx.args().path, read, ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    Json j;
    j["path"] = ctx.args().path;
    Json entries = Json::array();
    for (const AclEntry& e : r->acl) {
      Json x;
      x["scheme"] = e.scheme;
      x["id"] = e.id;
      x["perms"] = storage::FormatPerms(e.perms);
      entries.push_back(x);
    }
    j["acl"] = entries;
    j["aversion"] = r->stat.aversion;
    j["revision"] = r->revision;
    ctx.io().Out(JsonLine(j));
    return absl::OkStatus();
  }
  std::string out;
  for (const AclEntry& e : r->acl) absl::StrAppend(&out, FormatEntry(e), "\n");
  absl::StrAppend(&out, "aversion: ", r->stat.aversion, "\n");
  ctx.io().Out(out);
  return absl::OkStatus();
}

absl::Status CmdAclSet(Ctx& ctx) {
  absl::StatusOr<std::vector<AclEntry>> acl = ParseAclText(ctx.args().acl_list, "LIST");
  if (!acl.ok()) return acl.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<SetResult> r = (*client)->SetAcl(ctx.args().path, *acl,
                                                  ctx.args().aversion.value_or(-1), ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    Json j;
    j["path"] = ctx.args().path;
    j["stat"] = StatJson(r->stat);
    j["revision"] = r->revision;
    ctx.io().Out(JsonLine(j));
  } else {
    ctx.io().Out(absl::StrCat("OK aversion=", r->stat.aversion, "\n"));
  }
  return absl::OkStatus();
}

absl::Status CmdWhoAmI(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<WhoAmIResult> r = (*client)->WhoAmI(ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    Json j;
    Json ids = Json::array();
    for (const Identity& id : r->ids) ids.push_back(absl::StrCat(id.scheme, ":", id.id));
    j["ids"] = ids;
    j["superuser"] = r->superuser;
    ctx.io().Out(JsonLine(j));
    return absl::OkStatus();
  }
  std::string out;
  if (r->ids.empty()) out = "anonymous (world:anyone)\n";
  for (const Identity& id : r->ids) absl::StrAppend(&out, id.scheme, ":", id.id, "\n");
  if (r->superuser) absl::StrAppend(&out, "superuser\n");
  ctx.io().Out(out);
  return absl::OkStatus();
}

absl::Status CmdAuthEnable(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  if (absl::Status s = (*client)->AuthEnable(ctx.call()); !s.ok()) return s;
  return PrintOk(ctx, "auth enabled");
}

absl::Status CmdAuthDisable(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  if (absl::Status s = (*client)->AuthDisable(ctx.call()); !s.ok()) return s;
  return PrintOk(ctx, "auth disabled");
}

absl::Status CmdAuthStatus(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<bool> enabled = (*client)->AuthStatus(ctx.call());
  if (!enabled.ok()) return enabled.status();
  if (ctx.json()) {
    Json j;
    j["enabled"] = *enabled;
    ctx.io().Out(JsonLine(j));
  } else {
    ctx.io().Out(*enabled ? "auth: enabled\n" : "auth: disabled\n");
  }
  return absl::OkStatus();
}

absl::Status CmdUserAdd(Ctx& ctx) {
  absl::StatusOr<std::string> password = NewPassword(ctx);
  if (!password.ok()) return password.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  if (absl::Status s = (*client)->UserAdd(ctx.args().user_name, *password, ctx.args().superuser,
                                          ctx.call());
      !s.ok()) {
    return s;
  }
  return PrintOk(ctx, absl::StrCat("user ", ctx.args().user_name, " added",
                                   ctx.args().superuser ? " (superuser)" : ""));
}

absl::Status CmdUserDelete(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  if (absl::Status s = (*client)->UserDelete(ctx.args().user_name, ctx.call()); !s.ok()) return s;
  return PrintOk(ctx, absl::StrCat("user ", ctx.args().user_name, " deleted"));
}

absl::Status CmdUserPasswd(Ctx& ctx) {
  absl::StatusOr<std::string> password = NewPassword(ctx);
  if (!password.ok()) return password.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  if (absl::Status s = (*client)->UserPasswd(ctx.args().user_name, *password, ctx.call());
      !s.ok()) {
    return s;
  }
  return PrintOk(ctx, absl::StrCat("password of ", ctx.args().user_name, " changed"));
}

absl::Status CmdUserList(Ctx& ctx) {
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<std::vector<UserInfo>> users = (*client)->UserList(ctx.call());
  if (!users.ok()) return users.status();
  if (ctx.json()) {
    Json j = Json::array();
    for (const UserInfo& u : *users) {
      Json x;
      x["name"] = u.name;
      x["superuser"] = u.superuser;
      j.push_back(x);
    }
    ctx.io().Out(JsonLine(j));
    return absl::OkStatus();
  }
  std::string out;
  for (const UserInfo& u : *users) {
    absl::StrAppend(&out, u.name, u.superuser ? " superuser" : "", "\n");
  }
  ctx.io().Out(out);
  return absl::OkStatus();
}

}  // namespace synod::ctl
