// The public error helpers of client.h: Synod codes, their names and their
// canonical absl codes (the table of DESIGN.md §3; the same mapping as
// server/error_mapping, which the client cannot link).
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "synod/client.h"

namespace synod {
namespace {

// Where the Synod code rides in an absl::Status.
constexpr absl::string_view kPayloadUrl = "type.synod.dev/synod.v1.ErrorCode";

struct CodeInfo {
  ErrorCode code;
  absl::string_view name;
  absl::StatusCode status;
};

// Indexed by the wire value (0..36).
constexpr CodeInfo kCodes[] = {
    {ErrorCode::kOk, "OK", absl::StatusCode::kOk},
    {ErrorCode::kNoNode, "NO_NODE", absl::StatusCode::kNotFound},
    {ErrorCode::kNodeExists, "NODE_EXISTS", absl::StatusCode::kAlreadyExists},
    // A failed test-and-set: re-read and retry (abseil's rule for ABORTED).
    {ErrorCode::kBadVersion, "BAD_VERSION", absl::StatusCode::kAborted},
    {ErrorCode::kNotEmpty, "NOT_EMPTY", absl::StatusCode::kFailedPrecondition},
    {ErrorCode::kNoChildrenForEphemerals, "NO_CHILDREN_FOR_EPHEMERALS",
     absl::StatusCode::kFailedPrecondition},
    {ErrorCode::kInvalidPath, "INVALID_PATH", absl::StatusCode::kInvalidArgument},
    {ErrorCode::kSessionExpired, "SESSION_EXPIRED", absl::StatusCode::kFailedPrecondition},
    {ErrorCode::kTooLarge, "TOO_LARGE", absl::StatusCode::kInvalidArgument},
    {ErrorCode::kNotLeader, "NOT_LEADER", absl::StatusCode::kUnavailable},
    {ErrorCode::kCompacted, "COMPACTED", absl::StatusCode::kOutOfRange},
    {ErrorCode::kUnavailable, "UNAVAILABLE", absl::StatusCode::kUnavailable},
    {ErrorCode::kTooManyOps, "TOO_MANY_OPS", absl::StatusCode::kInvalidArgument},
    {ErrorCode::kInvalidArgument, "INVALID_ARGUMENT", absl::StatusCode::kInvalidArgument},
    {ErrorCode::kRolledBack, "ROLLED_BACK", absl::StatusCode::kAborted},
    {ErrorCode::kRuntimeInconsistency, "RUNTIME_INCONSISTENCY", absl::StatusCode::kAborted},
    {ErrorCode::kAuthFailed, "AUTH_FAILED", absl::StatusCode::kUnauthenticated},
    {ErrorCode::kDeadlineExceeded, "DEADLINE_EXCEEDED", absl::StatusCode::kDeadlineExceeded},
    {ErrorCode::kDataLoss, "DATA_LOSS", absl::StatusCode::kDataLoss},
    {ErrorCode::kInternal, "INTERNAL", absl::StatusCode::kInternal},
    {ErrorCode::kMemberExists, "MEMBER_EXISTS", absl::StatusCode::kAlreadyExists},
    {ErrorCode::kMemberNotFound, "MEMBER_NOT_FOUND", absl::StatusCode::kNotFound},
    // Both pass with time (the learner catches up, the change completes),
    // as server/error_mapping says too.
    {ErrorCode::kLearnerNotReady, "LEARNER_NOT_READY", absl::StatusCode::kUnavailable},
    {ErrorCode::kMembershipChangeInProgress, "MEMBERSHIP_CHANGE_IN_PROGRESS",
     absl::StatusCode::kUnavailable},
    {ErrorCode::kUnsafeMembershipChange, "UNSAFE_MEMBERSHIP_CHANGE",
     absl::StatusCode::kFailedPrecondition},
    {ErrorCode::kWatchOverflow, "WATCH_OVERFLOW", absl::StatusCode::kResourceExhausted},
    {ErrorCode::kEphemeralNeedsSession, "EPHEMERAL_NEEDS_SESSION",
     absl::StatusCode::kFailedPrecondition},
    {ErrorCode::kResourceExhausted, "RESOURCE_EXHAUSTED", absl::StatusCode::kResourceExhausted},
    {ErrorCode::kRevisionAhead, "REVISION_AHEAD", absl::StatusCode::kOutOfRange},
    {ErrorCode::kTooManyWatches, "TOO_MANY_WATCHES", absl::StatusCode::kResourceExhausted},
    {ErrorCode::kPermissionDenied, "PERMISSION_DENIED", absl::StatusCode::kPermissionDenied},
    {ErrorCode::kUnauthenticated, "UNAUTHENTICATED", absl::StatusCode::kUnauthenticated},
    {ErrorCode::kInvalidAcl, "INVALID_ACL", absl::StatusCode::kInvalidArgument},
    {ErrorCode::kQuotaExceeded, "QUOTA_EXCEEDED", absl::StatusCode::kResourceExhausted},
    {ErrorCode::kFailedPrecondition, "FAILED_PRECONDITION",
     absl::StatusCode::kFailedPrecondition},
    {ErrorCode::kUserExists, "USER_EXISTS", absl::StatusCode::kAlreadyExists},
    {ErrorCode::kUserNotFound, "USER_NOT_FOUND", absl::StatusCode::kNotFound},
};
constexpr int kNumCodes = sizeof(kCodes) / sizeof(kCodes[0]);
static_assert(static_cast<int>(kCodes[kNumCodes - 1].code) == kNumCodes - 1);

const CodeInfo* Find(ErrorCode code) {
  const int i = static_cast<int>(code);
  return i >= 0 && i < kNumCodes ? &kCodes[i] : nullptr;
}

}  // namespace

absl::string_view ErrorCodeName(ErrorCode code) {
  const CodeInfo* info = Find(code);
  return info != nullptr ? info->name : "UNKNOWN";
}

std::optional<ErrorCode> ErrorCodeFromName(absl::string_view name) {
  for (const CodeInfo& info : kCodes) {
    if (info.name == name) return info.code;
  }
  if (name == "UNKNOWN") return ErrorCode::kUnknown;
  return std::nullopt;
}

absl::StatusCode StatusCodeFor(ErrorCode code) {
  const CodeInfo* info = Find(code);
  return info != nullptr ? info->status : absl::StatusCode::kUnknown;
}

absl::Status SynodError(ErrorCode code, absl::string_view message) {
  if (code == ErrorCode::kOk) return absl::OkStatus();
  absl::Status status(StatusCodeFor(code), message.empty()
                                               ? std::string(ErrorCodeName(code))
                                               : absl::StrCat(ErrorCodeName(code), ": ", message));
  status.SetPayload(kPayloadUrl, absl::Cord(absl::StrCat(static_cast<int>(code))));
  return status;
}

ErrorCode ErrorCodeOf(const absl::Status& status) {
  if (status.ok()) return ErrorCode::kOk;
  if (absl::optional<absl::Cord> payload = status.GetPayload(kPayloadUrl)) {
    int value = 0;
    if (absl::SimpleAtoi(std::string(*payload), &value)) {
      const CodeInfo* info = Find(static_cast<ErrorCode>(value));
      return info != nullptr ? info->code : ErrorCode::kUnknown;
    }
  }
  // Statuses made outside the client (or from a bare gRPC status): only the
  // codes whose meaning is unambiguous.
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return ErrorCode::kUnavailable;
    case absl::StatusCode::kDeadlineExceeded:
      return ErrorCode::kDeadlineExceeded;
    case absl::StatusCode::kDataLoss:
      return ErrorCode::kDataLoss;
    case absl::StatusCode::kInternal:
      return ErrorCode::kInternal;
    case absl::StatusCode::kInvalidArgument:
      return ErrorCode::kInvalidArgument;
    case absl::StatusCode::kPermissionDenied:
      return ErrorCode::kPermissionDenied;
    case absl::StatusCode::kUnauthenticated:
      return ErrorCode::kUnauthenticated;
    default:
      return ErrorCode::kUnknown;
  }
}

}  // namespace synod
