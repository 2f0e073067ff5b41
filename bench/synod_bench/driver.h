// The seam between synod-bench's load engine and one system under test.
//
// A Driver knows how to reach one kind of cluster (Synod, ZooKeeper, etcd):
// prepare it, find its leader, and open Connections. A Connection sends one
// operation at a time per call to Issue and reports the outcome through the
// Completion it was given; it never blocks the caller and never spawns a
// thread per request (each driver uses its client library's asynchronous
// API). Completions run on the client library's threads.
#pragma once

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

class Driver {
 public:
  virtual ~Driver() = default;
  // Makes the cluster ready for keys from KeyPath (e.g. creates the parent
  // node), through `endpoint`.
  virtual absl::Status Prepare(const std::string& endpoint) = 0;
  // The endpoint, out of `endpoints`, of the current leader.
  virtual absl::StatusOr<std::string> FindLeader(const std::vector<std::string>& endpoints) = 0;
  // A new connection; `index` makes it distinct from the others (its own TCP
  // connection / session).
  virtual absl::StatusOr<std::unique_ptr<Connection>> Connect(const std::string& endpoint,
                                                              int index) = 0;
};

// Key names shared by every system, so preloads and workloads agree.
inline std::string KeyPath(uint64_t i) { return "/bench/k" + std::to_string(i); }

std::unique_ptr<Driver> NewSynodDriver(int timeout_ms);
std::unique_ptr<Driver> NewEtcdDriver(int timeout_ms);
std::unique_ptr<Driver> NewZooKeeperDriver(int session_timeout_ms);

}  // namespace synod::bench
