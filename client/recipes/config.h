// Watched configuration: a value kept in one node, read once and then
// followed through a persistent watch, plus a read-modify-write helper that
// retries when someone else changed the value in between (BAD_VERSION).
//
// Thread-safety: WatchedConfig::value() from any thread; the callback runs
// on the caller's thread for the first report (inside Start), then on the
// client's callback thread, in order. UpdateConfig is reentrant and blocks.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "synod/client.h"

namespace synod::recipes {

class WatchedConfig {
 public:
  // Called with the new value after each change (NO_NODE once deleted);
  // the current value is reported first.
  using OnChange = std::function<void(const absl::StatusOr<GetResult>& value)>;
  static absl::StatusOr<std::unique_ptr<WatchedConfig>> Start(Client* client, std::string path,
                                                              OnChange on_change,
                                                              const CallOptions& call = {});
  ~WatchedConfig();
  // The latest value seen (NO_NODE while the node does not exist).
  absl::StatusOr<GetResult> value() const;

 private:
  WatchedConfig(Client* client, std::string path, OnChange on_change);
  void Refresh();

  Client* const client_;
  const std::string path_;
  const OnChange on_change_;
  uint64_t watch_id_ = 0;
  // Held through a whole refresh (read + report) so reports keep order;
  // taken before mu_.
  absl::Mutex refresh_mu_;
  bool reported_ ABSL_GUARDED_BY(refresh_mu_) = false;
  mutable absl::Mutex mu_;
  absl::StatusOr<GetResult> value_ ABSL_GUARDED_BY(mu_);
};

// Computes the new value from the current one (nullopt when the node does
// not exist) or fails to abort the update.
using ConfigUpdate =
    std::function<absl::StatusOr<std::string>(const std::optional<std::string>& current)>;

// Reads `path`, applies `update`, writes the result conditionally (set with
// the version read, or create if it was missing), and starts over when the
// condition fails (BAD_VERSION, NODE_EXISTS, NO_NODE), until the deadline.
// Returns the written node's stat. `update` may run several times.
absl::StatusOr<SetResult> UpdateConfig(Client& client, const std::string& path,
                                       const ConfigUpdate& update, const CallOptions& call = {});

}  // namespace synod::recipes
