// The Synod driver that goes through the C++ client library (synod::Client),
// as an application does: one Client per connection, with a session and
// exactly-once writes (each write carries the session's id, sequence and
// secret; up to max_writes_in_flight of them at once) and the library's
// Tree.Pipeline transport. Set-up, leader lookup, watches and session churn
// are the raw driver's (they measure the server, not the library).
//
// A connection's Client knows only its own replica (no member discovery),
// so its requests take the same route as the raw drivers': writes to a
// follower are forwarded by that follower.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/synod_bench/driver.h"
#include "synod/client.h"

namespace synod::bench {
namespace {

OpOutcome OutcomeOf(const absl::Status& s) {
  if (s.ok()) return OpOutcome::kOk;
  return ErrorCodeOf(s) == ErrorCode::kNodeExists ? OpOutcome::kExists : OpOutcome::kError;
}

class LibraryConnection final : public Connection {
 public:
  LibraryConnection(std::unique_ptr<Client> client, absl::Duration timeout)
      : client_(std::move(client)), timeout_(timeout) {}

  void Issue(OpKind kind, const std::string& key, const std::string& value,
             Completion* done) override {
    const CallOptions call = CallOptions::Timeout(timeout_);
    auto tell = [done](const absl::Status& s) { done->Done(OutcomeOf(s), s.message()); };
    switch (kind) {
      case OpKind::kWrite:
        client_->SetAsync(key, value, -1, call,
                          [tell](absl::StatusOr<SetResult> r) { tell(r.status()); });
        return;
      case OpKind::kReadLinearizable:
      case OpKind::kReadSerializable: {
        GetOptions options;
        options.read.consistency = kind == OpKind::kReadLinearizable
                                       ? Consistency::kLinearizable
                                       : Consistency::kSerializable;
        client_->GetAsync(key, options, call,
                          [tell](absl::StatusOr<GetResult> r) { tell(r.status()); });
        return;
      }
      case OpKind::kCreate:
        client_->CreateAsync(key, value, {}, call,
                             [tell](absl::StatusOr<CreateResult> r) { tell(r.status()); });
        return;
    }
    done->Done(OpOutcome::kError, "unknown op kind");
  }

 private:
  const std::unique_ptr<Client> client_;
  const absl::Duration timeout_;
};

class LibraryDriver final : public Driver {
 public:
  LibraryDriver(int timeout_ms, int writes_in_flight)
      : raw_(NewSynodDriver(timeout_ms, /*pipeline=*/true, TlsPems())),
        timeout_(absl::Milliseconds(timeout_ms)),
        writes_in_flight_(writes_in_flight) {}

  absl::Status Prepare(const std::string& endpoint) override { return raw_->Prepare(endpoint); }
  absl::StatusOr<std::string> FindLeader(const std::vector<std::string>& endpoints) override {
    return raw_->FindLeader(endpoints);
  }
  absl::StatusOr<std::unique_ptr<Connection>> Connect(const std::string& endpoint,
                                                      int /*index*/) override {
    Client::Options options;
    options.endpoints = {endpoint};
    options.discover_members = false;
    options.randomize_endpoints = false;
    options.request_timeout = timeout_;
    options.exactly_once_writes = true;
    options.max_writes_in_flight = writes_in_flight_;
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
    if (!client.ok()) return client.status();
    // The session opens before the load starts, not inside the first write.
    absl::StatusOr<uint64_t> session = (*client)->EnsureSession(CallOptions::Timeout(timeout_));
    if (!session.ok()) {
      return absl::UnavailableError(
          absl::StrCat("opening a session on ", endpoint, ": ", session.status().message()));
    }
    return std::make_unique<LibraryConnection>(*std::move(client), timeout_);
  }
  absl::StatusOr<std::unique_ptr<Watchers>> Watch(const std::string& endpoint, int index,
                                                  const std::string& key,
                                                  const std::vector<int>& ids,
                                                  WatchSink* sink) override {
    return raw_->Watch(endpoint, index, key, ids, sink);
  }
  absl::StatusOr<std::unique_ptr<SessionClient>> NewSessionClient(const std::string& endpoint,
                                                                   int index) override {
    return raw_->NewSessionClient(endpoint, index);
  }
  absl::StatusOr<int64_t> CountChildren(const std::string& endpoint,
                                        const std::string& parent) override {
    return raw_->CountChildren(endpoint, parent);
  }

 private:
  const std::unique_ptr<Driver> raw_;
  const absl::Duration timeout_;
  const int writes_in_flight_;
};

}  // namespace

std::unique_ptr<Driver> NewSynodLibraryDriver(int timeout_ms, int writes_in_flight) {
  return std::make_unique<LibraryDriver>(timeout_ms, writes_in_flight);
}

}  // namespace synod::bench
