// Client::Impl: the parts of a Client and the plumbing shared by its
// methods (client.cc: lifecycle, tree, sessions, watches; admin.cc: cluster
// administration and snapshots).
//
// Thread-safety: as Client. Teardown order (destructor): close the session,
// end watches and the keepalive stream, cancel and wait for calls in flight,
// drain the callback thread, stop the loop.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "client/src/core.h"
#include "client/src/executor.h"
#include "client/src/session.h"
#include "client/src/unary_call.h"
#include "client/src/watch.h"
#include "client/src/write_gate.h"
#include "synod/client.h"

namespace synod {

class Client::Impl {
 public:
  template <typename T>
  using Done = std::function<void(absl::StatusOr<T>)>;

  Impl(Options options, size_t start_endpoint, uint64_t seed,
       std::shared_ptr<grpc::ChannelCredentials> credentials);
  ~Impl();

  client::ClientCore& core() { return core_; }
  client::SessionManager& sessions() { return sessions_; }
  client::WatchManager& watches() { return watches_; }
  client::SerialExecutor& callbacks() { return callbacks_; }

  absl::Time DeadlineOf(const CallOptions& call) const {
    return call.deadline.value_or(absl::Now() + core_.options().request_timeout);
  }

  // Starts a call and converts its response; `done` runs on a gRPC or loop
  // thread and must not block.
  template <typename Req, typename Resp, typename T>
  void Run(client::RpcSpec<Req, Resp> spec, Req req, absl::Time deadline,
           std::function<absl::StatusOr<T>(Resp&)> convert, Done<T> done) {
    client::StartCall<Req, Resp>(
        &core_, std::move(spec), std::move(req), deadline,
        [convert = std::move(convert), done = std::move(done)](absl::StatusOr<Resp> resp) {
          if (!resp.ok()) {
            done(resp.status());
            return;
          }
          done(convert(*resp));
        });
  }

  // Wraps a user callback so it runs on the callback thread.
  template <typename T>
  Done<T> OnCallbackThread(Done<T> user) {
    return [this, user = std::move(user)](absl::StatusOr<T> result) {
      callbacks_.Post([user, result = std::move(result)]() mutable { user(std::move(result)); });
    };
  }

  // Runs `start` with a completion and waits for it. The completion does not
  // go through the callback thread, so this works from inside a callback.
  template <typename T>
  static absl::StatusOr<T> Wait(const std::function<void(Done<T>)>& start) {
    absl::Notification done;
    std::optional<absl::StatusOr<T>> out;
    start([&](absl::StatusOr<T> result) {
      out.emplace(std::move(result));
      done.Notify();
    });
    done.WaitForNotification();
    return std::move(*out);
  }

  // The credentials a call sends now, after authenticating first if the
  // client has a user and no fresh token (for streams, which carry what
  // they were opened with).
  absl::StatusOr<client::CallMetadata> AwaitCredentials(absl::Time deadline) {
    return Wait<client::CallMetadata>([&](Done<client::CallMetadata> done) {
      core_.credentials().Get(&core_, deadline, std::move(done));
    });
  }

  // The write identity for a write: opens a session first when the write
  // needs one (ephemeral create) or when writes are exactly-once.
  void WithWriteId(bool needs_session, absl::Time deadline,
                   std::function<void(absl::StatusOr<client::SessionManager::WriteId>)> k);

  // Runs a tree write: waits for its turn at the write gate, takes its
  // write identity, sends it (retried per WriteSpec), leaves the gate, then
  // calls `done` with the converted response.
  template <typename Req, typename Resp, typename T>
  void RunWrite(bool needs_session, client::RpcSpec<Req, Resp> spec, Req req, absl::Time deadline,
                std::function<absl::StatusOr<T>(Resp&)> convert, Done<T> done) {
    gate_.Enter([this, needs_session, spec = std::move(spec), req = std::move(req), deadline,
                 convert = std::move(convert), done = std::move(done)]() mutable {
      WithWriteId(needs_session, deadline,
                  [this, spec = std::move(spec), req = std::move(req), deadline,
                   convert = std::move(convert), done = std::move(done)](
                      absl::StatusOr<client::SessionManager::WriteId> id) mutable {
                    if (!id.ok()) {
                      gate_.Leave();
                      done(id.status());
                      return;
                    }
                    req.mutable_write()->set_session_id(id->session_id);
                    req.mutable_write()->set_sequence(id->sequence);
                    req.mutable_write()->set_session_secret(id->secret);
                    req.mutable_write()->set_lowest_unacked(id->lowest_unacked);
                    // Only writes that carry a sequence need the order.
                    const bool ordered = id->sequence != 0;
                    if (!ordered) gate_.Leave();
                    spec.retry = ordered ? client::RetryPolicy::kIdempotent
                                         : client::RetryPolicy::kNotProposedOnly;
                    Run<Req, Resp, T>(std::move(spec), std::move(req), deadline, std::move(convert),
                                      [this, ordered, id = *std::move(id),
                                       done = std::move(done)](absl::StatusOr<T> r) {
                                        if (ordered) {
                                          sessions_.WriteDone(id);
                                          gate_.Leave();
                                        }
                                        done(std::move(r));
                                      });
                  });
    });
  }

  // Tree operations with internal completions.
  void CreateImpl(absl::string_view path, absl::string_view data, const CreateOptions& options,
                  absl::Time deadline, Done<CreateResult> done);
  void GetImpl(absl::string_view path, const GetOptions& options, absl::Time deadline,
               Done<GetResult> done);
  void ExistsImpl(absl::string_view path, const ReadOptions& options, absl::Time deadline,
                  Done<ExistsResult> done);
  void SetImpl(absl::string_view path, absl::string_view data, int64_t expected_version,
               absl::Time deadline, Done<SetResult> done);
  void DeleteImpl(absl::string_view path, int64_t expected_version, absl::Time deadline,
                  Done<DeleteResult> done);
  void GetChildrenImpl(absl::string_view path, const ChildrenOptions& options, absl::Time deadline,
                       Done<ChildrenResult> done);
  void MultiImpl(const std::vector<Op>& ops, absl::Time deadline, Done<MultiResult> done);
  void HistoryImpl(absl::string_view path, const HistoryOptions& options, absl::Time deadline,
                   Done<HistoryResult> done);
  void SyncImpl(absl::string_view path, absl::Time deadline, Done<uint64_t> done);

 private:
  client::ClientCore core_;
  client::SerialExecutor callbacks_;
  client::SessionManager sessions_;
  client::WatchManager watches_;
  client::WriteGate gate_{&core_.loop(), core_.options().max_writes_in_flight};
};

// Request shapes shared by the Impl's files (client.cc, security.cc).
// The async stub method of each Tree RPC, as an AsyncMethod.
#define SYNOD_TREE_METHOD(Name)                                            \
  [](client::Endpoint& ep, grpc::ClientContext* ctx, const v1::Name##Request* req, \
     v1::Name##Response* resp, std::function<void(grpc::Status)> done) {   \
    ep.tree->async()->Name(ctx, req, resp, std::move(done));               \
  }

template <typename Req, typename Resp>
client::RpcSpec<Req, Resp> ReadSpec(client::AsyncMethod<Req, Resp> method) {
  client::RpcSpec<Req, Resp> spec;
  spec.method = method;
  spec.route = client::Route::kAny;
  spec.retry = client::RetryPolicy::kIdempotent;
  return spec;
}

// Writes go to the leader (a follower would forward them: one hop less).
// RunWrite sets the retry policy once the write identity is known.
template <typename Req, typename Resp>
client::RpcSpec<Req, Resp> WriteSpec(client::AsyncMethod<Req, Resp> method) {
  client::RpcSpec<Req, Resp> spec;
  spec.method = method;
  spec.route = client::Route::kLeader;
  spec.write = true;
  return spec;
}

// The server names most failures by code alone ("BAD_VERSION"): name the
// path the call was about, as ZooKeeper's exceptions do ("BAD_VERSION:
// /app"), so a log line or synodctl's "Error: CODE: detail" says which node.
template <typename T>
Client::Impl::Done<T> NamingPath(absl::string_view path, Client::Impl::Done<T> done) {
  return [path = std::string(path), done = std::move(done)](absl::StatusOr<T> r) {
    if (!r.ok()) {
      const ErrorCode code = ErrorCodeOf(r.status());
      if (code != ErrorCode::kUnknown && r.status().message() == ErrorCodeName(code)) {
        r = SynodError(code, path);
      }
    }
    done(std::move(r));
  };
}

}  // namespace synod
