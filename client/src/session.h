// SessionManager: the client's one session (at a time), kept alive over a
// KeepAlive stream to the current replica.
//
// Opened on demand (Ensure). A heartbeat goes out every timeout/4; a stream
// that fails, or that has had no acknowledgement for timeout/2, is dropped
// and the session resumed (id + secret) on the next replica, the state going
// SUSPENDED until a heartbeat is acknowledged again (CONNECTED). EXPIRED when
// the server says so (SESSION_EXPIRED, AUTH_FAILED) or when nothing was
// acknowledged for a whole timeout: then the server has expired it or is
// about to, so the client stops relying on it (and closes it, best effort);
// the next Ensure opens a new one.
//
// Writes made under a session carry (id, sequence); sequences count from 1
// per session and a retried write reuses its sequence.
//
// Thread-safety: public methods from any thread. Stream handling runs on the
// client's loop thread; gRPC reactions only post to it. Listeners are called
// on the callback executor, in state-change order. mu_ guards all state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/src/callback_gate.h"
#include "client/src/core.h"
#include "client/src/executor.h"
#include "synod/client.h"
#include "synod/v1/session.pb.h"

namespace synod::client {

class KeepAliveStream;

class SessionManager {
 public:
  struct WriteId {
    uint64_t session_id = 0;  // 0: no session (at-most-once write)
    uint64_t sequence = 0;
    std::string secret;  // the session's, proving the write is ours
    // The lowest sequence of the session whose result this client still
    // waits for (WriteContext.lowest_unacked), when the id was taken.
    uint64_t lowest_unacked = 0;
  };

  SessionManager(ClientCore* core, SerialExecutor* callbacks);
  ~SessionManager();  // after Shutdown()

  // Calls `done` (on a gRPC or loop thread; it must not block) with the id
  // of the open session, opening one first if there is none.
  void Ensure(absl::Time deadline, std::function<void(absl::StatusOr<uint64_t>)> done);
  // The next write identity of the open session, or {0, 0} without one.
  // A write with a sequence is outstanding until WriteDone.
  WriteId NextWrite();
  // The caller has the write's final outcome (or gave up on it): the
  // server may drop its stored result.
  void WriteDone(const WriteId& id);

  uint64_t id() const;
  std::string secret() const;  // empty when no session is open
  absl::Duration timeout() const;
  SessionState state() const;

  // Closes the open session (blocking). OK if there is none.
  absl::Status Close(absl::Time deadline);
  int AddListener(SessionListener listener);
  // Once it returns, the listener is not running and will not be called
  // (unless called from inside it: then not after it returns).
  void RemoveListener(int id);
  // Stops notifying listeners (they may capture objects destroyed with the
  // client).
  void DropListeners();
  // Ends the keepalive stream and timers and waits for the stream to
  // finish. The session itself is left to the caller (Close ends it).
  void Shutdown();

 private:
  friend class KeepAliveStream;
  enum class Phase { kNone, kOpening, kOpen, kClosing };

  void OnOpened(absl::StatusOr<v1::OpenSessionResponse> resp);
  // Loop thread.
  void StartStream();
  void Tick(uint64_t generation);
  void OnResponse(KeepAliveStream* stream, const v1::KeepAliveResponse& resp);
  void OnStreamDone(KeepAliveStream* stream);
  // Gives the session up (server said expired, or silence for a timeout).
  void ExpireLocked(const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetStateLocked(SessionState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelStreamLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseRemote(uint64_t id, std::string secret, absl::Time deadline,
                   std::function<void(absl::Status)> done);

  ClientCore* const core_;
  SerialExecutor* const callbacks_;

  mutable absl::Mutex mu_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kNone;
  SessionState state_ ABSL_GUARDED_BY(mu_) = SessionState::kClosed;
  uint64_t id_ ABSL_GUARDED_BY(mu_) = 0;
  std::string secret_ ABSL_GUARDED_BY(mu_);
  absl::Duration timeout_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  // Sequences of the open session taken by NextWrite and not yet done.
  std::set<uint64_t> outstanding_ ABSL_GUARDED_BY(mu_);
  // Bumped per opened session: timers of an older session stop.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_ack_ ABSL_GUARDED_BY(mu_);
  absl::Time stream_started_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(absl::StatusOr<uint64_t>)>> waiters_ ABSL_GUARDED_BY(mu_);
  struct Listener {
    SessionListener fn;
    std::shared_ptr<CallbackGate> gate;  // closed by RemoveListener
  };
  std::map<int, Listener> listeners_ ABSL_GUARDED_BY(mu_);
  int next_listener_ ABSL_GUARDED_BY(mu_) = 1;
  // The stream heartbeats go to (null while reconnecting).
  KeepAliveStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Every stream not yet finished (deleted on the loop after OnDone).
  absl::flat_hash_set<KeepAliveStream*> live_ ABSL_GUARDED_BY(mu_);
  SerialExecutor::TimerId tick_timer_ ABSL_GUARDED_BY(mu_) = 0;
  SerialExecutor::TimerId reconnect_timer_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration reconnect_backoff_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace synod::client
