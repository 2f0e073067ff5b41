#include "server/session/session_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/secret.h"
#include "server/error_mapping.h"

namespace synod::server {
namespace {

// A stream refused before it starts; deletes itself when gRPC is done.
class RefusedKeepAlive final
    : public grpc::ServerBidiReactor<v1::KeepAliveRequest, v1::KeepAliveResponse> {
 public:
  explicit RefusedKeepAlive(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

// A KeepAlive stream: read a request, write its response, read the next.
// One operation is outstanding at a time, so the reactions never run
// concurrently and need no lock; a client can have at most one heartbeat
// in flight per stream. Its slot (its count against the client's address)
// goes with it in OnDone.
class SessionService::KeepAliveStream final
    : public grpc::ServerBidiReactor<v1::KeepAliveRequest, v1::KeepAliveResponse> {
 public:
  KeepAliveStream(SessionService* service, PerIpSlot slot)
      : service_(service), slot_(std::move(slot)) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);  // the client half-closed (or the call broke)
      return;
    }
    response_ = service_->Beat(request_);
    StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      return;
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  SessionService* const service_;
  PerIpSlot slot_;
  v1::KeepAliveRequest request_;
  v1::KeepAliveResponse response_;
};

SessionService::SessionService(SessionBackend* backend, CallerResolver callers)
    : backend_(backend), callers_(std::move(callers)) {}

SessionService::Checked SessionService::Check(uint64_t session_id, std::string_view secret) {
  Checked checked;
  absl::StatusOr<SessionLookup> lookup = backend_->Lookup(session_id);
  if (!lookup.ok()) {
    checked.code = v1::INTERNAL;
    checked.message = lookup.status().ToString();
  } else if (!lookup->found) {
    // Session ids are the revisions that opened them: one above this
    // replica's state may exist, just not applied here yet.
    if (session_id > lookup->revision) {
      checked.code = v1::UNAVAILABLE;
      checked.message = absl::StrCat("session ", session_id, " is newer than this replica (at ",
                                     lookup->revision, "); retry");
    } else {
      checked.code = v1::SESSION_EXPIRED;
      checked.message = absl::StrCat("session ", session_id, " expired or was closed");
    }
  } else if (!base::SecretsEqual(lookup->secret, secret)) {
    checked.code = v1::AUTH_FAILED;
    checked.message = absl::StrCat("wrong secret for session ", session_id);
  } else {
    checked.timeout_ms = lookup->timeout_ms;
  }
  return checked;
}

v1::KeepAliveResponse SessionService::Beat(const v1::KeepAliveRequest& request) {
  Checked checked = Check(request.session_id(), request.secret());
  if (checked.code == v1::OK) backend_->Touch(request.session_id());
  v1::KeepAliveResponse response;
  *response.mutable_header() = backend_->Header();
  response.mutable_header()->set_code(checked.code);
  response.mutable_header()->set_message(checked.message);
  response.set_session_id(request.session_id());
  response.set_timeout_ms(checked.timeout_ms);
  return response;
}

grpc::ServerUnaryReactor* SessionService::Open(grpc::CallbackServerContext* context,
                                               const v1::OpenSessionRequest* request,
                                               v1::OpenSessionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Caller> caller = ResolveCaller(callers_, *context);
  if (!caller.ok()) {
    v1::ResponseHeader* header = response->mutable_header();
    *header = backend_->Header();
    header->set_code(ErrorCodeFor(caller.status()));
    header->set_message(std::string(caller.status().message()));
    reactor->Finish(ToGrpcStatus(*header));
    return reactor;
  }
  backend_->ProposeOpen(request->timeout_ms(), *caller,
                        [this, reactor, response](OpenOutcome outcome) {
                          v1::ResponseHeader* header = response->mutable_header();
                          *header = backend_->Header();
                          header->set_code(outcome.code);
                          header->set_message(outcome.message);
                          if (outcome.code == v1::OK) {
                            response->set_session_id(outcome.session_id);
                            response->set_secret(std::move(outcome.secret));
                            response->set_timeout_ms(outcome.timeout_ms);
                          }
                          reactor->Finish(ToGrpcStatus(*header));
                        });
  return reactor;
}

grpc::ServerBidiReactor<v1::KeepAliveRequest, v1::KeepAliveResponse>* SessionService::KeepAlive(
    grpc::CallbackServerContext* context) {
  absl::StatusOr<PerIpSlot> slot = PerIpLimiter::AcquireForPeer(stream_limiter_, context->peer());
  if (!slot.ok()) {
    return new RefusedKeepAlive(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(slot.status().message())));
  }
  return new KeepAliveStream(this, *std::move(slot));
}

grpc::ServerUnaryReactor* SessionService::Close(grpc::CallbackServerContext* context,
                                                const v1::CloseSessionRequest* request,
                                                v1::CloseSessionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto finish = [this, reactor, response](v1::ErrorCode code, std::string message) {
    v1::ResponseHeader* header = response->mutable_header();
    *header = backend_->Header();
    header->set_code(code);
    header->set_message(std::move(message));
    reactor->Finish(ToGrpcStatus(*header));
  };
  absl::StatusOr<v1::Caller> caller = ResolveCaller(callers_, *context);
  if (!caller.ok()) {
    finish(ErrorCodeFor(caller.status()), std::string(caller.status().message()));
    return reactor;
  }
  Checked checked = Check(request->session_id(), request->secret());
  if (checked.code != v1::OK) {
    finish(checked.code, std::move(checked.message));
  } else {
    backend_->ProposeClose(request->session_id(), *caller, std::move(finish));
  }
  return reactor;
}

}  // namespace synod::server
