// synodctl's tree commands: create, get, stat, set, delete, ls, history,
// multi.
#include <algorithm>
#include <sstream>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/synodctl/commands.h"
#include "client/synodctl/json.h"

namespace synod::ctl {
namespace {

absl::StatusOr<ReadOptions> ReadFlags(const Ctx& ctx) {
  ReadOptions read;
  const std::string c = ctx.args().Get("consistency", "linearizable");
  if (c == "serializable") {
    read.consistency = Consistency::kSerializable;
  } else if (c != "linearizable") {
    return UsageError(absl::StrCat("--consistency=", c, ": expected linearizable or serializable"));
  }
  if (ctx.args().Has("min_revision")) {
    absl::StatusOr<uint64_t> r = ParseUintFlag("--min_revision", ctx.args().Get("min_revision"));
    if (!r.ok()) return UsageError(r.status().message());
    read.min_revision = *r;
  }
  return read;
}

absl::StatusOr<int64_t> VersionFlag(const Ctx& ctx) {
  if (!ctx.args().Has("version")) return -1;
  absl::StatusOr<int64_t> v = ParseIntFlag("version", ctx.args().Get("version"));
  if (!v.ok()) return UsageError(v.status().message());
  return *v;
}

// Parses create's flags into options (shared with multi's create lines).
absl::StatusOr<CreateOptions> CreateFlags(const ParsedArgs& a) {
  CreateOptions o;
  const bool eph = a.Has("ephemeral"), seq = a.Has("sequential"), con = a.Has("container");
  if (con && (eph || seq || a.Has("ttl"))) {
    return UsageError("--container excludes --ephemeral, --sequential and --ttl");
  }
  if (a.Has("ttl")) {
    if (eph) return UsageError("--ttl excludes --ephemeral");
    absl::StatusOr<absl::Duration> ttl = ParseDurationFlag("ttl", a.Get("ttl"));
    if (!ttl.ok()) return UsageError(ttl.status().message());
    o.ttl = *ttl;
    o.mode = seq ? CreateMode::kPersistentSequentialWithTtl : CreateMode::kPersistentWithTtl;
  } else if (con) {
    o.mode = CreateMode::kContainer;
  } else if (eph) {
    o.mode = seq ? CreateMode::kEphemeralSequential : CreateMode::kEphemeral;
  } else if (seq) {
    o.mode = CreateMode::kPersistentSequential;
  }
  return o;
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
  absl::StatusOr<CreateOptions> options = CreateFlags(ctx.args());
  if (!options.ok()) return options.status();
  absl::StatusOr<std::string> data = ctx.Data(1);
  if (!data.ok()) return data.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<CreateResult> r = (*client)->Create(ctx.Arg(0), *data, *options, ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject().Field("path", r->path).Key("stat");
    WriteStat(j, r->stat);
    j.Field("revision", r->revision).EndObject();
    ctx.io().Out(j.str() + "\n");
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
  GetOptions options;
  absl::StatusOr<ReadOptions> read = ReadFlags(ctx);
  if (!read.ok()) return read.status();
  options.read = *read;
  if (ctx.args().Has("version") && ctx.args().Has("revision")) {
    return UsageError("--version and --revision exclude each other");
  }
  if (ctx.args().Has("version")) {
    absl::StatusOr<int64_t> v = VersionFlag(ctx);
    if (!v.ok()) return v.status();
    options.version = *v;
  }
  if (ctx.args().Has("revision")) {
    absl::StatusOr<uint64_t> r = ParseUintFlag("--revision", ctx.args().Get("revision"));
    if (!r.ok()) return UsageError(r.status().message());
    options.revision = *r;
  }
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<GetResult> r = (*client)->Get(ctx.Arg(0), options, ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject()
        .Field("path", ctx.Arg(0))
        .Field("data", absl::Base64Escape(r->data))
        .Key("stat");
    WriteStat(j, r->stat);
    j.Field("revision", r->revision).EndObject();
    ctx.io().Out(j.str() + "\n");
  } else {
    PrintData(ctx, r->data);
  }
  return absl::OkStatus();
}

absl::Status CmdStat(Ctx& ctx) {
  absl::StatusOr<ReadOptions> read = ReadFlags(ctx);
  if (!read.ok()) return read.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<ExistsResult> r = (*client)->Exists(ctx.Arg(0), *read, ctx.call());
  if (!r.ok()) return r.status();
  if (!r->exists) return SynodError(ErrorCode::kNoNode, ctx.Arg(0));
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject().Field("path", ctx.Arg(0)).Key("stat");
    WriteStat(j, r->stat);
    j.Field("revision", r->revision).EndObject();
    ctx.io().Out(j.str() + "\n");
  } else {
    PrintStatText(ctx, ctx.Arg(0), r->stat);
  }
  return absl::OkStatus();
}

absl::Status CmdSet(Ctx& ctx) {
  absl::StatusOr<int64_t> version = VersionFlag(ctx);
  if (!version.ok()) return version.status();
  absl::StatusOr<std::string> data = ctx.Data(1);
  if (!data.ok()) return data.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<SetResult> r = (*client)->Set(ctx.Arg(0), *data, *version, ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject().Field("path", ctx.Arg(0)).Key("stat");
    WriteStat(j, r->stat);
    j.Field("revision", r->revision).EndObject();
    ctx.io().Out(j.str() + "\n");
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
  absl::StatusOr<int64_t> version = VersionFlag(ctx);
  if (!version.ok()) return version.status();
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  int64_t deleted = 0;
  uint64_t revision = 0;
  if (ctx.args().Has("recursive")) {
    if (absl::Status s = DeleteTree(ctx, **client, ctx.Arg(0), *version, &deleted, &revision);
        !s.ok()) {
      // Not atomic: say how far it got (same code and payloads, so the
      // exit status is the error's).
      absl::Status out(s.code(), absl::StrCat(s.message(), " (after deleting ", deleted,
                                              deleted == 1 ? " node)" : " nodes)"));
      s.ForEachPayload(
          [&out](absl::string_view url, const absl::Cord& p) { out.SetPayload(url, p); });
      return out;
    }
  } else {
    absl::StatusOr<DeleteResult> d = (*client)->Delete(ctx.Arg(0), *version, ctx.call());
    if (!d.ok()) return d.status();
    deleted = 1;
    revision = d->revision;
  }
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject()
        .Field("path", ctx.Arg(0))
        .Field("deleted", deleted)
        .Field("revision", revision)
        .EndObject();
    ctx.io().Out(j.str() + "\n");
  } else {
    ctx.io().Out(absl::StrCat("OK deleted=", deleted, "\n"));
  }
  return absl::OkStatus();
}

absl::Status CmdLs(Ctx& ctx) {
  ChildrenOptions options;
  absl::StatusOr<ReadOptions> read = ReadFlags(ctx);
  if (!read.ok()) return read.status();
  options.read = *read;
  options.include_stat = ctx.args().Has("stat");
  if (ctx.args().Has("limit")) {
    absl::StatusOr<uint64_t> n = ParseUintFlag("--limit", ctx.args().Get("limit"));
    if (!n.ok() || *n == 0 || *n > UINT32_MAX) return UsageError("--limit must be 1 or more");
    options.limit = static_cast<uint32_t>(*n);
  }
  if (ctx.args().Has("page_token")) {
    if (!ctx.args().Has("limit")) return UsageError("--page_token needs --limit");
    options.page_token = ctx.args().Get("page_token");
  }
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<ChildrenResult> r = (*client)->GetChildren(ctx.Arg(0), options, ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject().Field("path", ctx.Arg(0)).Key("children").BeginArray();
    for (size_t i = 0; i < r->children.size(); ++i) {
      if (options.include_stat && i < r->child_stats.size()) {
        j.BeginObject().Field("name", r->children[i]).Key("stat");
        WriteStat(j, r->child_stats[i]);
        j.EndObject();
      } else {
        j.String(r->children[i]);
      }
    }
    j.EndArray();
    if (!r->next_page_token.empty()) j.Field("next_page_token", r->next_page_token);
    j.Field("revision", r->revision).EndObject();
    ctx.io().Out(j.str() + "\n");
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
  if (ctx.args().Has("limit")) {
    absl::StatusOr<uint64_t> n = ParseUintFlag("--limit", ctx.args().Get("limit"));
    if (!n.ok() || *n == 0 || *n > UINT32_MAX) return UsageError("--limit must be 1 or more");
    options.limit = static_cast<uint32_t>(*n);
  }
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<HistoryResult> r = (*client)->History(ctx.Arg(0), options, ctx.call());
  if (!r.ok()) return r.status();
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject().Field("path", ctx.Arg(0)).Key("versions").BeginArray();
    for (const NodeVersion& v : r->versions) {
      j.BeginObject();
      if (v.deleted) {
        j.Field("deleted", true).Field("deleted_revision", v.deleted_revision);
      } else {
        j.Field("data", absl::Base64Escape(v.data)).Key("stat");
        WriteStat(j, v.stat);
      }
      j.EndObject();
    }
    j.EndArray()
        .Field("compact_revision", r->compact_revision)
        .Field("revision", r->revision)
        .EndObject();
    ctx.io().Out(j.str() + "\n");
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

namespace {

absl::StatusOr<Op> ParseOpLine(const std::vector<std::string>& words) {
  static const auto* flags = new std::vector<FlagSpec>{
      {"ephemeral"}, {"sequential"}, {"container"}, {"ttl", true}, {"version", true}};
  std::vector<std::string> rest(words.begin() + 1, words.end());
  absl::StatusOr<ParsedArgs> a = ParseArgs(rest, *flags);
  if (!a.ok()) return UsageError(a.status().message());
  const std::vector<std::string>& p = a->positional;
  int64_t version = -1;
  if (a->Has("version")) {
    absl::StatusOr<int64_t> v = ParseIntFlag("version", a->Get("version"));
    if (!v.ok()) return UsageError(v.status().message());
    version = *v;
  }
  const std::string& op = words[0];
  if (op == "create" && (p.size() == 1 || p.size() == 2)) {
    absl::StatusOr<CreateOptions> o = CreateFlags(*a);
    if (!o.ok()) return o.status();
    return Op::Create(p[0], p.size() == 2 ? p[1] : "", *o);
  }
  if (op == "set" && p.size() == 2) return Op::Set(p[0], p[1], version);
  if (op == "delete" && p.size() == 1) return Op::Delete(p[0], version);
  if (op == "check" && p.size() == 1) return Op::Check(p[0], version);
  return UsageError(absl::StrCat("bad op \"", op, "\" or wrong number of arguments"));
}

}  // namespace

absl::Status CmdMulti(Ctx& ctx) {
  if (ctx.io().in == nullptr) return UsageError("multi reads its ops from stdin");
  std::vector<Op> ops;
  std::string line;
  int line_no = 0;
  while (std::getline(*ctx.io().in, line)) {
    ++line_no;
    absl::StatusOr<std::vector<std::string>> words = SplitWords(line);
    if (!words.ok())
      return UsageError(absl::StrCat("line ", line_no, ": ", words.status().message()));
    if (words->empty() || (*words)[0][0] == '#') continue;
    absl::StatusOr<Op> op = ParseOpLine(*words);
    if (!op.ok()) return UsageError(absl::StrCat("line ", line_no, ": ", op.status().message()));
    ops.push_back(*std::move(op));
  }
  if (ops.empty()) return UsageError("multi: no ops on stdin");
  absl::StatusOr<Client*> client = ctx.client();
  if (!client.ok()) return client.status();
  absl::StatusOr<MultiResult> r = (*client)->Multi(ops, ctx.call());
  if (!r.ok()) return r.status();
  static constexpr const char* kNames[] = {"create", "set", "delete", "check"};
  if (ctx.json()) {
    JsonWriter j;
    j.BeginObject().Key("results").BeginArray();
    for (size_t i = 0; i < ops.size() && i < r->results.size(); ++i) {
      j.BeginObject()
          .Field("op", kNames[static_cast<int>(ops[i].type)])
          .Field("path", r->results[i].path.empty() ? ops[i].path : r->results[i].path);
      if (ops[i].type == Op::Type::kCreate || ops[i].type == Op::Type::kSet) {
        j.Key("stat");
        WriteStat(j, r->results[i].stat);
      }
      j.EndObject();
    }
    j.EndArray().Field("revision", r->revision).EndObject();
    ctx.io().Out(j.str() + "\n");
    return absl::OkStatus();
  }
  std::string out;
  for (size_t i = 0; i < ops.size() && i < r->results.size(); ++i) {
    const std::string& path = r->results[i].path.empty() ? ops[i].path : r->results[i].path;
    absl::StrAppend(&out, kNames[static_cast<int>(ops[i].type)], " ", path);
    if (ops[i].type == Op::Type::kSet)
      absl::StrAppend(&out, " version=", r->results[i].stat.version);
    absl::StrAppend(&out, "\n");
  }
  ctx.io().Out(out);
  return absl::OkStatus();
}

}  // namespace synod::ctl
