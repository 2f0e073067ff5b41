// The seam between synod-bench's load engine and one system under test.
//
// A Driver knows how to reach one kind of cluster (Synod, ZooKeeper, etcd):
// prepare it, find its leader, and open Connections. A Connection sends one
// operation at a time per call to Issue and reports the outcome through the
// Completion it was given; it never blocks the caller and never spawns a
// thread per request (each driver uses its client library's asynchronous
// API). Completions run on the client library's threads.
//
// For the watch_fanout workload a Driver also registers watches (Watch, told
// through a WatchSink), and for session_churn it opens SessionClients, whose
// Cycle blocks: opening a session is a handshake on every system, and a
// churn loop has nothing else to do meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace synod::bench {

enum class OpKind {
  kWrite,             // overwrite an existing key (set / put), any version
  kReadLinearizable,  // Synod LINEARIZABLE, etcd default Range, ZooKeeper sync + getData
  kReadSerializable,  // the serving replica's local state
  kCreate,            // create a new key (fails if it exists)
};

enum class OpOutcome {
  kOk,
  kExists,  // create of a key that already exists
  kError,
};

// Told once per issued operation, on a client library thread.
class Completion {
 public:
  virtual ~Completion() = default;
  virtual void Done(OpOutcome outcome, absl::string_view error) = 0;
};

// One client session/connection to one replica. Issue may be called again
// (for the next op) from inside Completion::Done. Thread-safe for concurrent
// Issue calls.
class Connection {
 public:
  virtual ~Connection() = default;
  // `key` and `value` must stay valid until `done` is told.
  virtual void Issue(OpKind kind, const std::string& key, const std::string& value,
                     Completion* done) = 0;
};

// Told by a driver's watches, on client library threads. Watcher ids are
// the ones given to Driver::Watch.
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Watcher `id` is registered: it will see the next change of its key.
  virtual void Armed(int id) = 0;
  // Watcher `id` saw a change of its key, stamped on arrival. `still_armed`:
  // it sees the next change without registering again (a persistent watch);
  // otherwise it calls Armed once it is registered again.
  virtual void Event(int id, std::chrono::steady_clock::time_point received, bool still_armed) = 0;
  // Watcher `id` will see nothing more (stream broken, watch canceled).
  virtual void Lost(int id, absl::string_view error) = 0;
};

// Watches registered by Driver::Watch; destroying it ends them (and waits
// until the driver no longer calls the sink).
class Watchers {
 public:
  virtual ~Watchers() = default;
};

// One client that opens and closes sessions, one after another.
class SessionClient {
 public:
  virtual ~SessionClient() = default;
  // Opens a session, creates `key` (holding `value`) as an ephemeral node of
  // that session (etcd: a key attached to a lease), and closes the session
  // (etcd: revokes the lease), which deletes the node. Blocks.
  virtual absl::Status Cycle(const std::string& key, const std::string& value) = 0;
};

class Driver {
 public:
  virtual ~Driver() = default;
  // Makes the cluster ready for keys from KeyPath, kWatchKey and under
  // kChurnParent (creates the nodes that must exist), through `endpoint`.
  virtual absl::Status Prepare(const std::string& endpoint) = 0;
  // The endpoint, out of `endpoints`, of the current leader.
  virtual absl::StatusOr<std::string> FindLeader(const std::vector<std::string>& endpoints) = 0;
  // A new connection; `index` makes it distinct from the others (its own TCP
  // connection / session).
  virtual absl::StatusOr<std::unique_ptr<Connection>> Connect(const std::string& endpoint,
                                                              int index) = 0;
  // Watchers `ids` on `key`, all on one new connection (its own TCP
  // connection / stream / session; `index` as for Connect) to `endpoint`.
  // Returns once every registration is sent; the sink hears Armed per id.
  virtual absl::StatusOr<std::unique_ptr<Watchers>> Watch(const std::string& endpoint, int index,
                                                          const std::string& key,
                                                          const std::vector<int>& ids,
                                                          WatchSink* sink) = 0;
  // A session client with its own connection to `endpoint`; sessions time
  // out after the driver's timeout.
  virtual absl::StatusOr<std::unique_ptr<SessionClient>> NewSessionClient(
      const std::string& endpoint, int index) = 0;
  // How many keys are under `parent` (its children; etcd: keys prefixed
  // `parent` + "/"), read linearizably through `endpoint`.
  virtual absl::StatusOr<int64_t> CountChildren(const std::string& endpoint,
                                                const std::string& parent) = 0;
};

// Key names shared by every system, so preloads and workloads agree.
inline std::string KeyPath(uint64_t i) { return "/bench/k" + std::to_string(i); }
// The node every watch_fanout watcher watches, and the parent of the
// session_churn ephemerals; Prepare creates both (where a parent must exist).
inline constexpr char kWatchKey[] = "/bench/watch";
inline constexpr char kChurnParent[] = "/bench/churn";

// TLS for the client port, as PEM text. An empty `ca` means plaintext;
// `cert` and `key` (both or neither) are the client certificate.
struct TlsPems {
  std::string ca;
  std::string cert;
  std::string key;
};

// `pipeline`: tree calls go on one Tree.Pipeline stream per connection
// instead of one unary call each. `tls`: every channel (load, watch,
// session and control) speaks TLS when tls.ca is set.
std::unique_ptr<Driver> NewSynodDriver(int timeout_ms, bool pipeline, const TlsPems& tls);
// Through the C++ client library (library_driver.cc): sessions and
// exactly-once writes on, up to `writes_in_flight` per connection.
std::unique_ptr<Driver> NewSynodLibraryDriver(int timeout_ms, int writes_in_flight);
std::unique_ptr<Driver> NewEtcdDriver(int timeout_ms);
// `resolution_delay_ms`: zoo_set_servers_resolution_delay of every session
// (0: the library's default, a resolution per poll).
std::unique_ptr<Driver> NewZooKeeperDriver(int session_timeout_ms, int resolution_delay_ms);

}  // namespace synod::bench
