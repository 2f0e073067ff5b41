// Helpers shared by the command files.
#include "client/synodctl/commands.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace synod::ctl {

std::string FormatTime(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

void PrintData(Ctx& ctx, const std::string& data) {
  if (ctx.io().out_is_tty && (data.empty() || data.back() != '\n')) {
    ctx.io().Out(absl::StrCat(data, "\n"));
  } else {
    ctx.io().Out(data);
  }
}

std::string RecipePath(const std::string& base, const std::string& name) {
  if (!name.empty() && name[0] == '/') return name;
  return absl::StrCat(base, "/", name);
}

Json StatJson(const Stat& s) {
  Json j;
  j["czxid"] = s.czxid;
  j["mzxid"] = s.mzxid;
  j["pzxid"] = s.pzxid;
  j["ctime"] = s.ctime;
  j["mtime"] = s.mtime;
  j["version"] = s.version;
  j["cversion"] = s.cversion;
  j["aversion"] = s.aversion;
  j["ephemeral_owner"] = s.ephemeral_owner;
  j["data_length"] = s.data_length;
  j["num_children"] = s.num_children;
  return j;
}

std::string JsonLine(const Json& json) {
  // `replace`: dump never throws on bytes that are not UTF-8 (an elect
  // VALUE, an error message quoting a path).
  return json.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

absl::StatusOr<CreateOptions> CreateOptionsFrom(const CreateFlags& f) {
  CreateOptions o;
  if (f.container && (f.ephemeral || f.sequential || f.ttl.has_value())) {
    return UsageError("--container excludes --ephemeral, --sequential and --ttl");
  }
  if (f.ttl.has_value()) {
    if (f.ephemeral) return UsageError("--ttl excludes --ephemeral");
    o.ttl = *f.ttl;
    o.mode =
        f.sequential ? CreateMode::kPersistentSequentialWithTtl : CreateMode::kPersistentWithTtl;
  } else if (f.container) {
    o.mode = CreateMode::kContainer;
  } else if (f.ephemeral) {
    o.mode = f.sequential ? CreateMode::kEphemeralSequential : CreateMode::kEphemeral;
  } else if (f.sequential) {
    o.mode = CreateMode::kPersistentSequential;
  }
  return o;
}

}  // namespace synod::ctl
