// synodctl's tree commands: create, get, stat, set, delete, ls, history
// (multi: multi.cc).
#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/synodctl/commands.h"

namespace synod::ctl {
namespace {

ReadOptions ReadFlags(const Ctx& ctx) {
  ReadOptions read;
  read.consistency = ctx.args().consistency;
  read.min_revision = ctx.args().min_revision.value_or(0);
  return read;
}

void PrintStatText(Ctx& ctx, const std::string& path, const Stat& s) {
  ctx.io().Out(absl::StrFormat(
      "path = %s\nczxid = %d\nmzxid = %d\npzxid = %d\nctime = %s (%d)\nmtime = %s (%d)\n"
      "version = %d\ncversion = %d\naversion = %d\nephemeral_owner = 0x%x\n"
      "data_length = %d\nnum_children = %d\n",
      path, s.czxid, s.mzxid, s.pzxid, FormatTime(s.ctime), s.ctime, FormatTime(s.mtime), s.mtime,
      s.version, s.cversion, s.aversion, s.ephemeral_owner, s.data_length, s.num_children));
}

std::string Quote(const std::string& data, size_t max) {
  std::string shown = absl::CHexEscape(data.substr(0, max));
  return absl::StrCat("\"", shown, data.size() > max ? "\"..." : "\"");
}

}  // namespace

absl::Status CmdCreate(Ctx& ctx) {
  absl::StatusOr<CreateOptions> options = CreateOptionsFrom(ctx.args().create);
  if (!options.ok()) return options.status();
  if (ctx.args().acl.has_value()) {
    absl::StatusOr<std::vector<AclEntry>> acl = ParseAclText(*ctx.args().acl, "--acl");
    if (!acl.ok()) return acl.status();
    options->acl = *std::move(acl);
  }
  absl::StatusOr<std::string> data = ctx.Data();
  if (!data.ok()) return data.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<CreateResult> r = (*client)->Create(ctx.args().path, *data, *options, ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    Json j;
    j["path"] = r->path;
    j["stat"] = StatJson(r->stat);
    j["revision"] = r->revision;
    ctx.io().Out(JsonLine(j));
  } else {
    ctx.io().Out(r->path + "\n");
  }
  if (!IsEphemeral(options->mode)) return absl::OkStatus();
  // An ephemeral node lives as long as this process's session: hold it.
  ctx.io().handles_interrupt = true;
  if (ctx.io().interrupt == nullptr) return absl::OkStatus();
  std::atomic<bool> lost{false};
  absl::Notification expired;
  const int listener = (*client)->AddSessionListener([&](SessionState s, uint64_t) {
    if (s == SessionState::kExpired && !lost.exchange(true)) expired.Notify();
  });
  while (!ctx.io().interrupt->WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
    if (expired.HasBeenNotified()) break;
  }
  (*client)->RemoveSessionListener(listener);
  if (lost) return SynodError(ErrorCode::kSessionExpired, "the session ended: node deleted");
  return absl::OkStatus();
}

absl::Status CmdGet(Ctx& ctx) {
  const Args& a = ctx.args();
  GetOptions options;
  options.read = ReadFlags(ctx);
  if (a.version.has_value()) options.version = *a.version;
  if (a.revision.has_value()) options.revision = *a.revision;
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<GetResult> r = (*client)->Get(a.path, options, ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    Json j;
    j["path"] = a.path;
    j["data"] = absl::Base64Escape(r->data);
    j["stat"] = StatJson(r->stat);
    j["revision"] = r->revision;
    ctx.io().Out(JsonLine(j));
  } else {
    PrintData(ctx, r->data);
  }
  return absl::OkStatus();
}

absl::Status CmdStat(Ctx& ctx) {
  const std::string& path = ctx.args().path;
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<ExistsResult> r = (*client)->Exists(path, ReadFlags(ctx), ctx.call());
  if (!r.ok()) return r.status();
  if (!r->exists) return SynodError(ErrorCode::kNoNode, path);
  if (ctx.json()) {
    Json j;
    j["path"] = path;
    j["stat"] = StatJson(r->stat);
    j["revision"] = r->revision;
    ctx.io().Out(JsonLine(j));
  } else {
    PrintStatText(ctx, path, r->stat);
  }
  return absl::OkStatus();
}

absl::Status CmdSet(Ctx& ctx) {
  const std::string& path = ctx.args().path;
  absl::StatusOr<std::string> data = ctx.Data();
  if (!data.ok()) return data.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<SetResult> r =
      (*client)->Set(path, *data, ctx.args().version.value_or(-1), ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    Json j;
    j["path"] = path;
    j["stat"] = StatJson(r->stat);
    j["revision"] = r->revision;
    ctx.io().Out(JsonLine(j));
  } else {
    ctx.io().Out(absl::StrCat("OK version=", r->stat.version, "\n"));
  }
  return absl::OkStatus();
}

namespace {

// Deletes the subtree under `path` (children first), then `path` itself
// with `version`. Each request gets its own deadline (--timeout), however
// large the subtree. Counts deleted nodes.
absl::Status DeleteTree(Ctx& ctx, Client& client, const std::string& path, int64_t version,
                        int64_t* deleted, uint64_t* revision) {
  absl::StatusOr<ChildrenResult> kids = client.GetChildren(path, {}, ctx.call());
  if (!kids.ok()) return kids.status();
  for (const std::string& c : kids->children) {
    const std::string child = path == "/" ? "/" + c : path + "/" + c;
    absl::Status s = DeleteTree(ctx, client, child, -1, deleted, revision);
    // Someone else deleted it meanwhile: fine.
    if (!s.ok() && ErrorCodeOf(s) != ErrorCode::kNoNode) return s;
  }
  if (path == "/") return absl::OkStatus();
  absl::StatusOr<DeleteResult> d = client.Delete(path, version, ctx.call());
  if (!d.ok()) return d.status();
  ++*deleted;
  *revision = d->revision;
  return absl::OkStatus();
}

}  // namespace

absl::Status CmdDelete(Ctx& ctx) {
  const std::string& path = ctx.args().path;
  const int64_t version = ctx.args().version.value_or(-1);
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  int64_t deleted = 0;
  uint64_t revision = 0;
  if (ctx.args().recursive) {
    if (absl::Status s = DeleteTree(ctx, **client, path, version, &deleted, &revision); !s.ok()) {
      // Not atomic: say how far it got (same code and payloads, so the
      // exit status is the error's).
      absl::Status out(s.code(), absl::StrCat(s.message(), " (after deleting ", deleted,
                                              deleted == 1 ? " node)" : " nodes)"));
      s.ForEachPayload(
          [&out](absl::string_view url, const absl::Cord& p) { out.SetPayload(url, p); });
      return out;
    }
  } else {
    absl::StatusOr<DeleteResult> d = (*client)->Delete(path, version, ctx.call());
    if (!d.ok()) return d.status();
    deleted = 1;
    revision = d->revision;
  }
  if (ctx.json()) {
    Json j;
    j["path"] = path;
    j["deleted"] = deleted;
    j["revision"] = revision;
    ctx.io().Out(JsonLine(j));
  } else {
    ctx.io().Out(absl::StrCat("OK deleted=", deleted, "\n"));
  }
  return absl::OkStatus();
}

absl::Status CmdLs(Ctx& ctx) {
  const Args& a = ctx.args();
  ChildrenOptions options;
  options.read = ReadFlags(ctx);
  options.include_stat = a.stat;
  options.limit = a.limit.value_or(0);
  options.page_token = a.page_token.value_or("");
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<ChildrenResult> r = (*client)->GetChildren(a.path, options, ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    Json children = Json::array();
    for (size_t i = 0; i < r->children.size(); ++i) {
      if (options.include_stat && i < r->child_stats.size()) {
        Json child;
        child["name"] = r->children[i];
        child["stat"] = StatJson(r->child_stats[i]);
        children.push_back(std::move(child));
      } else {
        children.push_back(r->children[i]);
      }
    }
    Json j;
    j["path"] = a.path;
    j["children"] = std::move(children);
    if (!r->next_page_token.empty()) j["next_page_token"] = r->next_page_token;
    j["revision"] = r->revision;
    ctx.io().Out(JsonLine(j));
    return absl::OkStatus();
  }
  std::string out;
  for (size_t i = 0; i < r->children.size(); ++i) {
    if (options.include_stat && i < r->child_stats.size()) {
      const Stat& s = r->child_stats[i];
      absl::StrAppendFormat(&out, "%s\tversion=%d\tchildren=%d\tsize=%d\tmzxid=%d%s\n",
                            r->children[i], s.version, s.num_children, s.data_length, s.mzxid,
                            s.ephemeral_owner != 0 ? "\tephemeral" : "");
    } else {
      absl::StrAppend(&out, r->children[i], "\n");
    }
  }
  if (!r->next_page_token.empty()) {
    absl::StrAppend(&out, "next_page_token: ", r->next_page_token, "\n");
  }
  ctx.io().Out(out);
  return absl::OkStatus();
}

absl::Status CmdHistory(Ctx& ctx) {
  HistoryOptions options;
  options.limit = ctx.args().limit.value_or(0);
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<HistoryResult> r = (*client)->History(ctx.args().path, options, ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    Json versions = Json::array();
    for (const NodeVersion& v : r->versions) {
      Json version;
      if (v.deleted) {
        version["deleted"] = true;
        version["deleted_revision"] = v.deleted_revision;
      } else {
        version["data"] = absl::Base64Escape(v.data);
        version["stat"] = StatJson(v.stat);
      }
      versions.push_back(std::move(version));
    }
    Json j;
    j["path"] = ctx.args().path;
    j["versions"] = std::move(versions);
    j["compact_revision"] = r->compact_revision;
    j["revision"] = r->revision;
    ctx.io().Out(JsonLine(j));
    return absl::OkStatus();
  }
  std::string out =
      absl::StrFormat("%-8s %-10s %-24s %-8s %s\n", "VERSION", "REVISION", "MTIME", "SIZE", "DATA");
  for (const NodeVersion& v : r->versions) {
    if (v.deleted) {
      absl::StrAppendFormat(&out, "%-8s %-10d %-24s %-8s %s\n", "-", v.deleted_revision, "-", "-",
                            "(deleted)");
    } else {
      absl::StrAppendFormat(&out, "%-8d %-10d %-24s %-8d %s\n", v.stat.version, v.stat.mzxid,
                            FormatTime(v.stat.mtime), v.stat.data_length, Quote(v.data, 40));
    }
  }
  ctx.io().Out(out);
  return absl::OkStatus();
}

}  // namespace synod::ctl
