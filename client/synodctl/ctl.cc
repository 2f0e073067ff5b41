#include "client/synodctl/ctl.h"

#include <algorithm>
#include <iterator>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/synodctl/cli.h"
#include "client/synodctl/commands.h"

namespace synod::ctl {
namespace {

constexpr char kDefaultEndpoints[] = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";
constexpr absl::string_view kUsagePayload = "type.synod.dev/synodctl.Usage";

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
    case ErrorCode::kInvalidAcl:
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
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kUnauthenticated:
      return kExitAccess;
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
  if (args_.timeout.has_value()) timeout_ = *args_.timeout;
  if (args_.session_timeout.has_value()) session_timeout_ = *args_.session_timeout;
  // Given but empty (--endpoints=, say from an unset shell variable) is a
  // mistake, not a request for the defaults.
  std::string eps;
  std::string source = "--endpoints";
  if (args_.endpoints.has_value()) {
    eps = *args_.endpoints;
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
  o.cacert = args_.cacert;
  o.cert = args_.cert;
  o.key = args_.key;
  if (args_.user.has_value()) {
    absl::StatusOr<std::string> password =
        Secret("SYNOD_PASSWORD", absl::StrCat("Password for ", *args_.user, ": "), "--user");
    if (!password.ok()) return password.status();
    o.user = *args_.user;
    o.password = *std::move(password);
  }
  o.digests = args_.digests;
  absl::StatusOr<std::unique_ptr<Client>> c = Client::Connect(std::move(o));
  if (!c.ok()) return UsageError(c.status().message());
  client_ = std::move(*c);
  return client_.get();
}

absl::StatusOr<std::string> Ctx::Secret(const std::string& env, const std::string& prompt,
                                        const std::string& what) {
  if (io_.getenv) {
    if (std::optional<std::string> v = io_.getenv(env); v.has_value() && !v->empty()) return *v;
  }
  if (io_.read_secret) {
    if (std::optional<std::string> v = io_.read_secret(prompt); v.has_value()) {
      if (v->empty()) return UsageError(absl::StrCat(what, ": empty password"));
      return *v;
    }
  }
  return UsageError(
      absl::StrCat(what, " needs a password: set ", env, " or run synodctl on a terminal"));
}

absl::StatusOr<std::string> Ctx::Data() {
  if (args_.data != "-") return args_.data;
  if (io_.in == nullptr) return UsageError("DATA '-' but no stdin");
  std::string all((std::istreambuf_iterator<char>(*io_.in)), std::istreambuf_iterator<char>());
  return all;
}

int RunSynodctl(const std::vector<std::string>& args, Io& io) {
  CommandLine line = ParseCommandLine(args);
  if (!line.error.ok()) {
    io.Err(absl::StrCat("Error: ", DescribeError(line.error), "\n",
                        line.show_help_after_error ? "\n" + line.help : ""));
    return ExitCodeFor(line.error);
  }
  if (line.fn == nullptr) {
    io.Out(line.help);
    return kExitOk;
  }
  Ctx ctx(io, std::move(line.args));
  absl::Status status = ctx.Configure();
  if (status.ok()) status = line.fn(ctx);
  if (status.ok() && ctx.exit_override >= 0) return ctx.exit_override;
  if (status.ok()) return kExitOk;
  io.Err(absl::StrCat("Error: ", DescribeError(status), "\n"));
  return ExitCodeFor(status);
}

std::string HelpText() { return ParseCommandLine({"--help"}).help; }

}  // namespace synod::ctl
