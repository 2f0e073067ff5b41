// Leader election among processes sharing a Synod cluster.
//
// Each candidate holds an ephemeral-sequential node under the election's
// directory, carrying its value (e.g. its address); the lowest one leads.
// A waiting candidate watches only the candidate just before it, so a
// resignation wakes one process (no herd). Leadership ends with Resign, or
// with the session: the node vanishes when the session expires, and the
// candidate is told (on_lost), as every holder of an ephemeral must be.
//
// Thread-safety: Campaign/Resign from one thread at a time; is_leader and
// the observer are thread-safe. Callbacks run on the client's callback
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/recipes/line.h"
#include "synod/client.h"

namespace synod::recipes {

struct LeaderInfo {
  std::string value;
  std::string path;    // the leader's candidate node
  uint64_t czxid = 0;  // grows with each new leader (a fencing token)
};

class LeaderElection {
 public:
  // `client` must outlive this object.
  LeaderElection(Client* client, std::string path, std::string value);
  ~LeaderElection();  // Resigns (best effort)
  LeaderElection(const LeaderElection&) = delete;
  LeaderElection& operator=(const LeaderElection&) = delete;

  // Enters the election (once) and blocks until this candidate leads.
  // Errors: DEADLINE_EXCEEDED (still a candidate: call again to wait on),
  // CANCELLED (`stop` notified; still a candidate), SESSION_EXPIRED (the
  // candidacy ended with the session; Campaign again rejoins at the back).
  absl::Status Campaign(absl::Time deadline = absl::InfiniteFuture(),
                        const absl::Notification* stop = nullptr);
  // Leaves the election; the next candidate takes over. OK if not in it.
  absl::Status Resign(const CallOptions& call = {});
  bool is_leader() const;
  // Called (callback thread) when leadership held is lost with the session.
  void set_on_lost(std::function<void()> on_lost);

  // The current leader of the election at `path`. Errors: NO_NODE if none.
  static absl::StatusOr<LeaderInfo> CurrentLeader(Client& client, const std::string& path,
                                                  const CallOptions& call = {});

 private:
  Client* const client_;
  const std::string path_;
  const std::string value_;
  int listener_ = 0;
  mutable absl::Mutex mu_;
  std::optional<Ticket> ticket_ ABSL_GUARDED_BY(mu_);
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> on_lost_ ABSL_GUARDED_BY(mu_);
};

// Follows who leads an election: calls `on_change` with the new leader each
// time it changes, and with NO_NODE when nobody leads. Built on a persistent
// watch of the election directory.
//
// Thread-safety: construct and destroy on one thread; the callback runs on
// the caller's thread for the first report (inside Start), then on the
// client's callback thread, in order.
class LeaderObserver {
 public:
  using OnChange = std::function<void(const absl::StatusOr<LeaderInfo>& leader)>;
  // Starts observing; the current leader is reported first.
  static absl::StatusOr<std::unique_ptr<LeaderObserver>> Start(Client* client, std::string path,
                                                               OnChange on_change,
                                                               const CallOptions& call = {});
  ~LeaderObserver();

 private:
  LeaderObserver(Client* client, std::string path, OnChange on_change);
  void Refresh();

  Client* const client_;
  const std::string path_;
  const OnChange on_change_;
  uint64_t watch_id_ = 0;
  // Held through a whole Refresh (read + report), so reports of the first
  // refresh (caller's thread) and of events (callback thread) keep order.
  absl::Mutex mu_;
  std::optional<std::string> last_ ABSL_GUARDED_BY(mu_);  // last reported leader path
  bool reported_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace synod::recipes
