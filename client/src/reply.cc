#include "client/src/reply.h"

#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/src/convert.h"

namespace synod::client {
namespace {

Reply FromHeader(const v1::ResponseHeader& header, absl::string_view fallback_message) {
  Reply r;
  r.answered = true;
  r.member_id = header.member_id();
  r.leader_id = header.leader_id();
  r.revision = header.revision();
  r.code = FromProto(header.code());
  if (r.code != ErrorCode::kOk) {
    r.status = SynodError(r.code, header.message().empty() ? fallback_message : header.message());
  }
  return r;
}

}  // namespace

Reply ClassifyReply(const grpc::Status& status, const v1::ResponseHeader& header,
                    const std::string& address) {
  if (status.ok()) return FromHeader(header, "");
  if (!status.error_details().empty()) {
    v1::ResponseHeader details;
    if (details.ParseFromString(status.error_details()) && details.code() != v1::OK) {
      return FromHeader(details, status.error_message());
    }
  }
  // A server status without details still names the code first
  // ("BAD_VERSION: expected 3"): the replica answered, but its leader hint
  // and revision are lost.
  const std::string& text = status.error_message();
  if (const size_t colon = text.find(':'); colon != std::string::npos) {
    std::optional<ErrorCode> code = ErrorCodeFromName(absl::string_view(text).substr(0, colon));
    if (code.has_value() && *code != ErrorCode::kOk && *code != ErrorCode::kUnknown) {
      Reply r;
      r.answered = true;
      r.code = *code;
      r.status = SynodError(
          *code, absl::StripLeadingAsciiWhitespace(absl::string_view(text).substr(colon + 1)));
      return r;
    }
  }
  Reply r;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      r.code = ErrorCode::kUnavailable;
      r.status = SynodError(r.code, absl::StrCat(address, ": ", status.error_message()));
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      r.code = ErrorCode::kDeadlineExceeded;
      r.status = SynodError(r.code, absl::StrCat(address, ": no reply in time"));
      break;
    default:
      // The gRPC and absl canonical codes have the same values.
      r.status = absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                              absl::StrCat(address, ": ", status.error_message()));
      r.code = ErrorCodeOf(r.status);
      break;
  }
  return r;
}

}  // namespace synod::client
