#include "tests/faults/call_outcome.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace synod::faults {

std::unique_ptr<grpc::ClientContext> CallContext(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

Outcome ClassifyCall(const grpc::Status& status, const v1::ResponseHeader& header, Op* op) {
  op->revision = header.revision();
  if (status.ok() && header.code() == v1::OK) return Outcome::kOk;
  v1::ResponseHeader details = header;
  if (!status.ok()) {
    if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
      // No Synod header: the transport failed. gRPC fails a call without
      // sending it when it has no connection to the address ("failed to
      // connect to all addresses"); otherwise the request may have arrived.
      op->error = absl::StrCat("grpc ", status.error_code(), ": ", status.error_message());
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
          absl::StrContains(status.error_message(), "failed to connect")) {
        return Outcome::kFail;
      }
      return Outcome::kUnknown;
    }
  }
  op->revision = details.revision();
  op->error = v1::ErrorCode_Name(details.code());
  switch (details.code()) {
    case v1::BAD_VERSION:
    case v1::NOT_LEADER:
    case v1::UNAVAILABLE:
    case v1::NO_NODE:
    case v1::INVALID_ARGUMENT:
    case v1::INVALID_PATH:
    case v1::TOO_LARGE:
      return Outcome::kFail;
    default:
      return Outcome::kUnknown;
  }
}

}  // namespace synod::faults
