// ClientCore: what every request of one Client shares: options, endpoints,
// the credentials, the event loop, the registry of calls in flight (so shutdown can cancel and
// wait for them), the backoff randomness and the read-your-writes revision.
//
// Thread-safety: every member is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/src/credentials.h"
#include "client/src/endpoints.h"
#include "client/src/executor.h"
#include "synod/client.h"

namespace synod::client {

// Calls and streams in flight. Shutdown cancels them and waits until each
// has finished (called back its owner and unregistered).
class CallTracker {
 public:
  class Call {
   public:
    virtual ~Call() = default;
    // Ends the call soon with CANCELLED; it then unregisters.
    virtual void Cancel() = 0;
  };

  // False once closed (the call must then fail with CANCELLED at once).
  bool Register(std::shared_ptr<Call> call);
  void Unregister(Call* call);
  // Refuses new calls, cancels every live one, waits until none is left.
  void CloseAndWait();

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<Call*, std::shared_ptr<Call>> live_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class ClientCore {
 public:
  ClientCore(Client::Options options, size_t start_endpoint, uint64_t seed,
             std::shared_ptr<grpc::ChannelCredentials> credentials);

  const Client::Options& options() const { return options_; }
  EndpointSet& endpoints() { return endpoints_; }
  SerialExecutor& loop() { return loop_; }
  CallTracker& tracker() { return tracker_; }
  Credentials& credentials() { return credentials_; }

  uint64_t last_revision() const { return last_revision_.load(); }
  // Raises last_revision to `revision` if it is higher.
  void NoteRevision(uint64_t revision);
  // A delay drawn uniformly from [base/2, base].
  absl::Duration Jitter(absl::Duration base);
  absl::Duration NextBackoff(absl::Duration current) const;
  // Fetches the member list (async), at most once per second.
  void RefreshMembers();

 private:
  const Client::Options options_;
  Credentials credentials_;
  EndpointSet endpoints_;
  CallTracker tracker_;
  std::atomic<uint64_t> last_revision_{0};
  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  absl::Time last_refresh_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  SerialExecutor loop_;  // last: its thread may run tasks touching the above
};

}  // namespace synod::client
