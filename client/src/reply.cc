#include "client/src/reply.h"

#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/src/convert.h"

namespace synod::client {
namespace {

// The detail of a server's gRPC error text "NAME: detail" (or "NAME").
absl::string_view DetailOf(absl::string_view text, v1::ErrorCode code) {
  const std::string& name = v1::ErrorCode_Name(code);
  if (absl::ConsumePrefix(&text, name)) absl::ConsumePrefix(&text, ":");
  return absl::StripLeadingAsciiWhitespace(text);
}

Reply FromHeader(const v1::ResponseHeader& header, absl::string_view fallback_message) {
  Reply r;
  r.answered = true;
  r.member_id = header.member_id();
  r.leader_id = header.leader_id();
  r.revision = header.revision();
  r.code = FromProto(header.code());
  if (r.code != ErrorCode::kOk) {
    r.status =
        SynodError(r.code, header.message().empty() ? DetailOf(fallback_message, header.code())
                                                    : absl::string_view(header.message()));
  }
  return r;
}

// gRPC's own refusal of a message above a size limit (the replica's
// --max_request_mb, or this client's receive limit).
bool TooLargeForGrpc(absl::string_view message) {
  return absl::StrContains(message, "message larger than max");
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
  {
    const absl::string_view name = absl::string_view(text).substr(0, text.find(':'));
    std::optional<ErrorCode> code = ErrorCodeFromName(name);
    if (code.has_value() && *code != ErrorCode::kOk && *code != ErrorCode::kUnknown) {
      Reply r;
      r.answered = true;
      r.code = *code;
      r.status = SynodError(*code, DetailOf(text, static_cast<v1::ErrorCode>(*code)));
      return r;
    }
  }
  Reply r;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      r.code = ErrorCode::kUnavailable;
      r.status = SynodError(r.code, absl::StrCat(address, ": ", status.error_message()));
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      if (TooLargeForGrpc(text)) {
        r.code = ErrorCode::kTooLarge;
        r.status =
            SynodError(r.code, absl::StrCat(address,
                                            ": a message larger than gRPC allows (a request is "
                                            "limited by the replica's --max_request_mb): ",
                                            status.error_message()));
        break;
      }
      r.status = absl::ResourceExhaustedError(absl::StrCat(address, ": ", status.error_message()));
      r.code = ErrorCodeOf(r.status);
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      r.code = ErrorCode::kDeadlineExceeded;
      r.status = SynodError(r.code, absl::StrCat(address, ": no reply in time"));
      break;
    case grpc::StatusCode::UNIMPLEMENTED:
      r.status = absl::UnimplementedError(
          absl::StrCat(address, " does not implement this call", text.empty() ? "" : ": ", text));
      r.code = ErrorCode::kUnknown;
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
