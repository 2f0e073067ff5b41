#include "client/synodctl/ctl.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/synodctl/commands.h"

namespace synod::ctl {
namespace {

constexpr char kDefaultEndpoints[] = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";
constexpr absl::string_view kUsagePayload = "type.synod.dev/synodctl.Usage";

std::vector<FlagSpec> AllFlags(const Command& c) {
  std::vector<FlagSpec> all = GlobalFlags();
  all.insert(all.end(), c.flags.begin(), c.flags.end());
  return all;
}

const Command* Find(const std::string& name, const std::string& sub) {
  for (const Command& c : Commands()) {
    if (c.name == name && c.sub == sub) return &c;
  }
  return nullptr;
}

bool HasSubcommands(const std::string& name) {
  for (const Command& c : Commands()) {
    if (c.name == name && !c.sub.empty()) return true;
  }
  return false;
}

}  // namespace

void Io::Out(absl::string_view text) {
  absl::MutexLock lock(&mu_);
  out->write(text.data(), static_cast<std::streamsize>(text.size()));
  out->flush();
}

void Io::Err(absl::string_view text) {
  absl::MutexLock lock(&mu_);
  err->write(text.data(), static_cast<std::streamsize>(text.size()));
  err->flush();
}

absl::Status UsageError(absl::string_view message) {
  absl::Status s = absl::InvalidArgumentError(message);
  s.SetPayload(kUsagePayload, absl::Cord("1"));
  return s;
}

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (status.GetPayload(kUsagePayload).has_value()) return kExitUsage;
  switch (ErrorCodeOf(status)) {
    case ErrorCode::kNoNode:
      return kExitNoNode;
    case ErrorCode::kNodeExists:
      return kExitNodeExists;
    case ErrorCode::kBadVersion:
      return kExitBadVersion;
    case ErrorCode::kNotEmpty:
      return kExitNotEmpty;
    case ErrorCode::kInvalidPath:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kTooLarge:
    case ErrorCode::kTooManyOps:
    case ErrorCode::kNoChildrenForEphemerals:
      return kExitBadRequest;
    case ErrorCode::kSessionExpired:
    case ErrorCode::kAuthFailed:
    case ErrorCode::kEphemeralNeedsSession:
      return kExitSession;
    case ErrorCode::kUnavailable:
    case ErrorCode::kNotLeader:
      return kExitUnavailable;
    case ErrorCode::kDeadlineExceeded:
      return kExitTimeout;
    case ErrorCode::kCompacted:
      return kExitCompacted;
    case ErrorCode::kMemberExists:
    case ErrorCode::kMemberNotFound:
    case ErrorCode::kLearnerNotReady:
    case ErrorCode::kMembershipChangeInProgress:
    case ErrorCode::kUnsafeMembershipChange:
      return kExitMembership;
    case ErrorCode::kDataLoss:
      return kExitDataLoss;
    default:
      return kExitError;
  }
}

std::string DescribeError(const absl::Status& status) {
  std::string name;
  if (status.GetPayload(kUsagePayload).has_value()) {
    name = "USAGE";
  } else if (ErrorCode code = ErrorCodeOf(status); code != ErrorCode::kUnknown) {
    name = std::string(ErrorCodeName(code));
  } else {
    name = absl::StatusCodeToString(status.code());  // "UNIMPLEMENTED" etc.
  }
  absl::string_view message = status.message();
  // Client errors already read "NAME: detail" (or just "NAME").
  if (message == name) return name;
  if (absl::StartsWith(message, name + ": ")) message.remove_prefix(name.size() + 2);
  return absl::StrCat(name, ": ", message);
}

absl::Status Ctx::Configure() {
  const std::string output = args_.Get("output", "text");
  if (output != "text" && output != "json") {
    return UsageError(absl::StrCat("-o ", output, ": expected text or json"));
  }
  json_ = output == "json";
  if (args_.Has("timeout")) {
    absl::StatusOr<absl::Duration> t = ParseDurationFlag("timeout", args_.Get("timeout"));
    if (!t.ok()) return UsageError(t.status().message());
    timeout_ = *t;
  }
  if (args_.Has("session_timeout")) {
    absl::StatusOr<absl::Duration> t =
        ParseDurationFlag("session_timeout", args_.Get("session_timeout"));
    if (!t.ok()) return UsageError(t.status().message());
    session_timeout_ = *t;
  }
  // Given but empty (--endpoints=, say from an unset shell variable) is a
  // mistake, not a request for the defaults.
  std::string eps;
  std::string source = "--endpoints";
  if (args_.Has("endpoints")) {
    eps = args_.Get("endpoints");
  } else if (std::optional<std::string> env =
                 io_.getenv ? io_.getenv("SYNOD_ENDPOINTS") : std::nullopt;
             env.has_value() && !env->empty()) {
    eps = *env;
    source = "SYNOD_ENDPOINTS";
  } else {
    eps = kDefaultEndpoints;
  }
  for (absl::string_view e : absl::StrSplit(eps, ',', absl::SkipWhitespace())) {
    endpoints_.emplace_back(absl::StripAsciiWhitespace(e));
  }
  if (endpoints_.empty()) {
    return UsageError(absl::StrCat(source, " is empty: give HOST:PORT[,HOST:PORT...]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Client*> Ctx::client() {
  if (client_ != nullptr) return client_.get();
  Client::Options o;
  o.endpoints = endpoints_;
  o.request_timeout = timeout_;
  o.attempt_timeout = std::min(timeout_, absl::Seconds(3));
  o.session_timeout = session_timeout_;
  absl::StatusOr<std::unique_ptr<Client>> c = Client::Connect(std::move(o));
  if (!c.ok()) return UsageError(c.status().message());
  client_ = std::move(*c);
  return client_.get();
}

absl::StatusOr<std::string> Ctx::Data(size_t i) {
  const std::string arg = Arg(i);
  if (arg != "-") return arg;
  if (io_.in == nullptr) return UsageError("DATA '-' but no stdin");
  std::string all((std::istreambuf_iterator<char>(*io_.in)), std::istreambuf_iterator<char>());
  return all;
}

int RunSynodctl(const std::vector<std::string>& args, Io& io) {
  std::vector<std::string> words = CommandWords(args, GlobalFlags(), 2);
  const bool help = std::find(args.begin(), args.end(), "--help") != args.end() ||
                    std::find(args.begin(), args.end(), "-h") != args.end();
  if (words.empty() || words[0] == "help") {
    if (help || (!words.empty() && words[0] == "help")) {
      io.Out(HelpText());
      return kExitOk;
    }
    io.Err(absl::StrCat("Error: USAGE: no command given\n\n", HelpText()));
    return kExitUsage;
  }
  const std::string sub = HasSubcommands(words[0]) && words.size() > 1 ? words[1] : "";
  const Command* cmd = Find(words[0], sub);
  if (cmd == nullptr) {
    if (help) {
      io.Out(HelpText());
      return kExitOk;
    }
    io.Err(absl::StrCat("Error: USAGE: unknown command \"", absl::StrJoin(words, " "),
                        "\" (synodctl --help lists them)\n"));
    return kExitUsage;
  }
  if (help) {
    io.Out(CommandHelpText(*cmd));
    return kExitOk;
  }
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, AllFlags(*cmd));
  absl::Status status;
  if (!parsed.ok()) {
    status = UsageError(parsed.status().message());
  } else {
    // Drop the command word(s) from the positional arguments.
    parsed->positional.erase(parsed->positional.begin(),
                             parsed->positional.begin() + (cmd->sub.empty() ? 1 : 2));
    if (cmd->name != "lock") {
      // "--" only ends flag parsing: what follows is arguments (data that
      // starts with '-').
      parsed->positional.insert(parsed->positional.end(), parsed->rest.begin(), parsed->rest.end());
    }
    const size_t n = parsed->positional.size();
    if (n < cmd->min_args || n > cmd->max_args) {
      status = UsageError(absl::StrCat("usage: synodctl ", cmd->name, cmd->sub.empty() ? "" : " ",
                                       cmd->sub, " ", cmd->usage));
    } else {
      Ctx ctx(io, std::move(*parsed));
      status = ctx.Configure();
      if (status.ok()) status = cmd->fn(ctx);
      if (status.ok() && ctx.exit_override >= 0) return ctx.exit_override;
    }
  }
  if (status.ok()) return kExitOk;
  io.Err(absl::StrCat("Error: ", DescribeError(status), "\n"));
  return ExitCodeFor(status);
}

std::string CommandHelpText(const Command& c) {
  const std::string name = absl::StrCat(c.name, c.sub.empty() ? "" : " ", c.sub);
  std::string out = absl::StrCat("Usage: synodctl [global flags] ", name,
                                 c.usage.empty() ? "" : " ", c.usage, "\n\n", c.summary, "\n");
  if (!c.flags.empty()) {
    absl::StrAppend(&out, "\nFlags:\n");
    for (const FlagSpec& f : c.flags) {
      std::string left = absl::StrCat("--", f.name, f.takes_value ? "=VALUE" : "");
      if (f.short_name != 0) left = absl::StrCat("-", std::string(1, f.short_name), ", ", left);
      absl::StrAppend(&out, "  ", left, f.help.empty() ? "" : "\n      ", f.help, "\n");
    }
  }
  absl::StrAppend(&out,
                  "\nGlobal flags: --endpoints=LIST, -o text|json, --timeout=DUR,\n"
                  "--session_timeout=DUR (synodctl --help describes them, the other commands\n"
                  "and the exit statuses).\n");
  return out;
}

std::string HelpText() {
  std::string out =
      "synodctl: command-line client of a Synod cluster.\n"
      "\n"
      "Usage: synodctl [--endpoints=HOST:PORT,...] [-o text|json] [--timeout=DUR] COMMAND "
      "...\n"
      "\n"
      "Global flags (anywhere before \"--\"):\n"
      "  --endpoints=LIST        client addresses of some replicas (default: $SYNOD_ENDPOINTS,\n"
      "                          else 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003); the\n"
      "                          others are discovered\n"
      "  -o, --output=FORMAT     text (default) or json\n"
      "  --timeout=DUR           deadline of each request, retries included (default 10s)\n"
      "  --session_timeout=DUR   session timeout for ephemeral nodes, elect, lock (default "
      "10s)\n"
      "  -h, --help              this text\n"
      "\n"
      "Commands:\n";
  for (const Command& c : Commands()) {
    std::string line = absl::StrCat("  ", c.name, c.sub.empty() ? "" : " ", c.sub, " ", c.usage);
    absl::StrAppend(&out, line, "\n      ", c.summary, "\n");
  }
  absl::StrAppend(
      &out,
      "\n"
      "DATA \"-\" reads stdin. Node data is printed raw in text mode (plus a newline on a\n"
      "terminal) and base64-encoded in JSON. Durations: 500ms, 5s, 1m30s.\n"
      "multi reads one op per line from stdin:\n"
      "  create [--ephemeral] [--sequential] [--container] [--ttl=DUR] PATH [DATA]\n"
      "  set [--version=V] PATH DATA | delete [--version=V] PATH | check [--version=V] PATH\n"
      "(words split on blanks; '...' and \"...\" quote; # starts a comment line).\n"
      "\n"
      "Backup and restore:\n"
      "  synodctl snapshot save backup.snap     one replica's state at one revision; FILE\n"
      "                                         appears only once synced and verified\n"
      "  synodctl snapshot status backup.snap   verify a file offline (exit 13: damaged)\n"
      "  synod --restore=backup.snap --initial_cluster=SPEC --id=N --data_dir=EMPTY_DIR\n"
      "      on each founding member of a NEW cluster, same file and SPEC everywhere: the\n"
      "      cluster starts at the backup's revision with its tree (equal digest).\n"
      "\n"
      "Errors go to stderr as \"Error: CODE: detail\". Exit status:\n"
      "   0  success\n"
      "   1  other error (INTERNAL, ROLLED_BACK, UNIMPLEMENTED, ...)\n"
      "   2  usage: bad command line\n"
      "   3  NO_NODE\n"
      "   4  NODE_EXISTS\n"
      "   5  BAD_VERSION\n"
      "   6  NOT_EMPTY\n"
      "   7  bad request: INVALID_PATH, INVALID_ARGUMENT, TOO_LARGE, TOO_MANY_OPS,\n"
      "      NO_CHILDREN_FOR_EPHEMERALS\n"
      "   8  session: SESSION_EXPIRED, AUTH_FAILED, EPHEMERAL_NEEDS_SESSION (a held lock or\n"
      "      leadership was lost)\n"
      "   9  UNAVAILABLE, NOT_LEADER: no replica could serve before the deadline\n"
      "  10  DEADLINE_EXCEEDED: no answer in time; a write may or may not have happened\n"
      "  11  COMPACTED: the revision asked for is no longer kept\n"
      "  12  membership: MEMBER_EXISTS, MEMBER_NOT_FOUND, LEARNER_NOT_READY,\n"
      "      MEMBERSHIP_CHANGE_IN_PROGRESS, UNSAFE_MEMBERSHIP_CHANGE\n"
      "  13  DATA_LOSS (status: the replicas' digests differ)\n"
      "  lock NAME -- COMMAND exits with COMMAND's status.\n");
  return out;
}

}  // namespace synod::ctl
