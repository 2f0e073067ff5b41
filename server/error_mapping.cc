#include "server/error_mapping.h"

#include "absl/strings/str_cat.h"

namespace synod::server {

grpc::StatusCode GrpcCodeFor(v1::ErrorCode code) {
  switch (code) {
    case v1::OK:
      return grpc::StatusCode::OK;
    case v1::NOT_LEADER:
    case v1::UNAVAILABLE:
    case v1::LEARNER_NOT_READY:
    case v1::MEMBERSHIP_CHANGE_IN_PROGRESS:
      return grpc::StatusCode::UNAVAILABLE;
    case v1::BAD_VERSION:
    case v1::ROLLED_BACK:
    case v1::RUNTIME_INCONSISTENCY:
      return grpc::StatusCode::ABORTED;
    case v1::NO_NODE:
    case v1::MEMBER_NOT_FOUND:
      return grpc::StatusCode::NOT_FOUND;
    case v1::NODE_EXISTS:
    case v1::MEMBER_EXISTS:
    case v1::USER_EXISTS:
      return grpc::StatusCode::ALREADY_EXISTS;
    case v1::USER_NOT_FOUND:
      return grpc::StatusCode::NOT_FOUND;
    case v1::PERMISSION_DENIED:
      return grpc::StatusCode::PERMISSION_DENIED;
    case v1::UNAUTHENTICATED:
      return grpc::StatusCode::UNAUTHENTICATED;
    case v1::INVALID_ACL:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case v1::QUOTA_EXCEEDED:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case v1::FAILED_PRECONDITION:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case v1::NOT_EMPTY:
    case v1::NO_CHILDREN_FOR_EPHEMERALS:
    case v1::SESSION_EXPIRED:
    case v1::EPHEMERAL_NEEDS_SESSION:
    case v1::UNSAFE_MEMBERSHIP_CHANGE:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case v1::INVALID_PATH:
    case v1::TOO_LARGE:
    case v1::TOO_MANY_OPS:
    case v1::INVALID_ARGUMENT:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case v1::COMPACTED:
    case v1::REVISION_AHEAD:
      return grpc::StatusCode::OUT_OF_RANGE;
    case v1::AUTH_FAILED:
      return grpc::StatusCode::UNAUTHENTICATED;
    case v1::WATCH_OVERFLOW:
    case v1::RESOURCE_EXHAUSTED:
    case v1::TOO_MANY_WATCHES:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case v1::DEADLINE_EXCEEDED:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case v1::DATA_LOSS:
      return grpc::StatusCode::DATA_LOSS;
    case v1::INTERNAL:
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

grpc::Status ToGrpcStatus(v1::ErrorCode code, const std::string& message) {
  if (code == v1::OK) return grpc::Status::OK;
  std::string text = v1::ErrorCode_Name(code);
  if (text.empty()) text = absl::StrCat("CODE_", static_cast<int>(code));
  if (!message.empty()) absl::StrAppend(&text, ": ", message);
  return grpc::Status(GrpcCodeFor(code), text);
}

grpc::Status ToGrpcStatus(const v1::ResponseHeader& header) {
  if (header.code() == v1::OK) return grpc::Status::OK;
  grpc::Status base = ToGrpcStatus(header.code(), header.message());
  return grpc::Status(base.error_code(), base.error_message(), header.SerializeAsString());
}

v1::ErrorCode ErrorCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return v1::OK;
    case absl::StatusCode::kDataLoss:
      return v1::DATA_LOSS;
    case absl::StatusCode::kDeadlineExceeded:
      return v1::DEADLINE_EXCEEDED;
    case absl::StatusCode::kUnavailable:
      return v1::UNAVAILABLE;
    case absl::StatusCode::kInvalidArgument:
      return v1::INVALID_ARGUMENT;
    case absl::StatusCode::kPermissionDenied:
      return v1::PERMISSION_DENIED;
    case absl::StatusCode::kUnauthenticated:
      return v1::UNAUTHENTICATED;
    case absl::StatusCode::kFailedPrecondition:
      return v1::FAILED_PRECONDITION;
    default:
      return v1::INTERNAL;
  }
}

}  // namespace synod::server
