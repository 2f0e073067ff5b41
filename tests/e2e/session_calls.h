// Raw gRPC helpers for the session and watch end-to-end tests: open a
// session, heartbeat it from a background thread, and hold a Watch stream
// whose responses a reader thread records per watch id.
//
// They talk to one replica each (the channel given), with no retry beyond
// what is documented, so a test decides which replica serves what.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "synod/v1/session.grpc.pb.h"
#include "synod/v1/watch.grpc.pb.h"

namespace synod::e2e {

// Session.Open on `channel`, retried while the replica answers UNAVAILABLE
// (no leader yet) until `timeout`. The response's header code says how it
// ended (OK, or the last error).
v1::OpenSessionResponse OpenSession(const std::shared_ptr<grpc::Channel>& channel,
                                    int64_t timeout_ms, absl::Duration timeout = absl::Seconds(15));

// Heartbeats one session over a KeepAlive stream to one replica every
// `period`, from its own thread, reopening the stream when it breaks, until
// Stop or destruction. Counts the replies by code.
//
// Thread: owner calls the methods; counters are atomic.
class Heartbeater {
 public:
  Heartbeater(std::shared_ptr<grpc::Channel> channel, uint64_t session_id, std::string secret,
              absl::Duration period);
  ~Heartbeater();
  Heartbeater(const Heartbeater&) = delete;
  Heartbeater& operator=(const Heartbeater&) = delete;

  // Stops and joins; idempotent.
  void Stop();
  int ok() const { return ok_.load(); }
  // Replies with a code other than OK (e.g. AUTH_FAILED, SESSION_EXPIRED).
  int refused() const { return refused_.load(); }
  v1::ErrorCode last_refusal() const { return static_cast<v1::ErrorCode>(last_refusal_.load()); }

 private:
  void Loop();

  const std::shared_ptr<grpc::Channel> channel_;
  const uint64_t session_id_;
  const std::string secret_;
  const absl::Duration period_;
  std::atomic<int> ok_{0};
  std::atomic<int> refused_{0};
  std::atomic<int> last_refusal_{v1::OK};

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* current_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

// One Watch stream to one replica. A reader thread records every response
// by watch id; the test creates and cancels watches and waits for what it
// expects to arrive.
//
// Thread: any (one mutex); writes are serialized.
class WatchStream {
 public:
  struct WatchLog {
    bool created = false;
    std::optional<v1::WatchResponse> canceled;  // the response that ended it
    std::vector<v1::WatchEvent> events;
    int responses_with_events = 0;
  };

  explicit WatchStream(const std::shared_ptr<grpc::Channel>& channel,
                       absl::Duration lifetime = absl::Seconds(120));
  ~WatchStream();
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // Sends a create (does not wait for the ack). False if the stream broke.
  bool Create(uint64_t watch_id, const std::string& path, v1::WatchKind kind,
              uint64_t start_revision = 0);
  // Waits until every watch in [first, last] was acknowledged (or
  // canceled). False at the timeout.
  bool WaitCreated(uint64_t first, uint64_t last, absl::Duration timeout);
  // Waits until `condition` holds over the recorded logs (called under the
  // lock, on each new response).
  bool WaitFor(const std::function<bool(const std::map<uint64_t, WatchLog>&)>& condition,
               absl::Duration timeout);
  // Waits until watch `id` has events up to at least `revision`.
  bool WaitForRevision(uint64_t id, uint64_t revision, absl::Duration timeout);

  WatchLog Log(uint64_t watch_id);
  // Ends the stream from the client side (as a client that lost its
  // replica) and joins the reader.
  void Close();
  bool ended();

 private:
  void ReadLoop();

  std::unique_ptr<v1::Watch::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WatchRequest, v1::WatchResponse>> stream_;
  absl::Mutex write_mu_;

  absl::Mutex mu_;
  std::map<uint64_t, WatchLog> logs_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

}  // namespace synod::e2e
