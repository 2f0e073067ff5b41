// Distributed locks: an exclusive Lock and a ReadWriteLock.
//
// Waiters form a line of ephemeral-sequential nodes under the lock's
// directory (line.h); each watches only the node it waits for. Acquiring
// returns a fencing token, the lock node's creation revision: every new
// holder's token is higher than every earlier holder's, so a resource that
// remembers the highest token it has seen can refuse a stale holder (one
// whose session expired while it was paused, say).
//
// A lock is held by its session: if the session expires the node is gone,
// another waiter may hold the lock, and the holder is told (on_lost). A
// holder must stop using the resource on SUSPENDED until it knows better.
//
// Thread-safety: one thread at a time per Lock object (like a mutex held by
// a process); held()/token() are thread-safe. Callbacks run on the client's
// callback thread.
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

class Lock {
 public:
  // `client` must outlive this object. `path` is the lock's directory.
  Lock(Client* client, std::string path);
  ~Lock();  // releases (best effort)
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Blocks until the lock is held; returns the fencing token. Errors:
  // DEADLINE_EXCEEDED / CANCELLED (`stop`): not held, the place in line is
  // given up; SESSION_EXPIRED. Already held: returns the token.
  absl::StatusOr<uint64_t> Acquire(absl::Time deadline = absl::InfiniteFuture(),
                                   const absl::Notification* stop = nullptr);
  // Takes the lock only if nobody holds or waits for it before us.
  // Errors: FAILED_PRECONDITION when it is taken (nothing is left behind).
  absl::StatusOr<uint64_t> TryAcquire(const CallOptions& call = {});
  // OK if not held.
  absl::Status Release(const CallOptions& call = {});
  bool held() const;
  uint64_t token() const;  // 0 when not held
  // Called (callback thread) when the lock held is lost with the session.
  void set_on_lost(std::function<void()> on_lost);

 private:
  friend class ReadWriteLock;
  Lock(Client* client, std::string path, std::string prefix, Blocker blocker);
  absl::StatusOr<uint64_t> AcquireImpl(absl::Time deadline, bool wait,
                                       const absl::Notification* stop);

  Client* const client_;
  const std::string path_;
  const std::string prefix_;
  const Blocker blocker_;
  int listener_ = 0;
  mutable absl::Mutex mu_;
  std::optional<Ticket> held_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_lost_ ABSL_GUARDED_BY(mu_);
};

// Many readers or one writer. Readers wait only for writers that queued
// before them; a writer waits for everyone before it, so writers are not
// starved. Both sides hand out fencing tokens from the same sequence.
class ReadWriteLock {
 public:
  ReadWriteLock(Client* client, std::string path);
  Lock& read_lock() { return read_; }
  Lock& write_lock() { return write_; }

 private:
  Lock read_;
  Lock write_;
};

}  // namespace synod::recipes
