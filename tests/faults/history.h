// History: the operations a fault-test workload issued, as recorded by its
// clients, and their JSON-lines form (one object per operation).
//
// Every operation has an invocation and a completion time from one
// monotonic clock (nanoseconds since the run started), an outcome and what
// it observed. The outcome is what the client can know:
//   kOk       the replica acknowledged it (a read returned, a write applied);
//   kFail     it definitely did not take effect (BAD_VERSION, NOT_LEADER,
//             UNAVAILABLE with a Synod header: "never will");
//   kUnknown  it may or may not have taken effect (deadline, lost
//             connection, DEADLINE_EXCEEDED): the checker lets it take
//             effect at any time after its invocation, or never.
//
// Besides register reads and writes, the create-based workloads record
// creates (the created path in read_value), session closes and session
// state changes (session), and listings of a parent's children (children).
//
// Thread: plain values; HistoryRecorder is safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace synod::faults {

enum class OpType {
  kRead,
  kWrite,
  kCas,
  kCreate,   // key: the path asked for; value: its data; read_value: the path created
  kList,     // key: the parent; children: what a LINEARIZABLE listing returned
  kClose,    // session: the session the client closed
  kSession,  // session: a state the client library reported for it (value: the state)
};
enum class Outcome { kOk, kFail, kUnknown };

// One child of a kList: its name, data and owning session (0: not ephemeral).
struct ListedChild {
  std::string name;
  std::string data;
  uint64_t owner = 0;
};

struct Op {
  int64_t id = 0;
  int client = 0;
  int replica = 0;  // member id the client sent it to
  std::string key;
  OpType type = OpType::kRead;
  // Writes and CAS: the value written (unique per run).
  std::string value;
  // CAS: the version the node must have (SetOp.expected_version).
  int64_t expected_version = -1;
  Outcome outcome = Outcome::kUnknown;
  // kOk reads: what was read. kOk writes/CAS: the node's version after the
  // write (from the reply's Stat), -1 if the reply did not say.
  std::string read_value;
  int64_t version = -1;
  uint64_t revision = 0;  // the serving replica's applied revision (header)
  int64_t invoke_ns = 0;
  int64_t complete_ns = 0;  // for kUnknown: when the client gave up
  std::string error;        // Synod code name or gRPC message, for humans
  // The session a write carried, a close closed or a state change is of
  // (0: none); for an ok ephemeral create, the owner its reply reports.
  uint64_t session = 0;
  // How many times the client sent it (retries with the same session
  // sequence count; they apply at most once).
  int attempts = 1;
  std::vector<ListedChild> children;  // kList
};

const char* OpTypeName(OpType type);
const char* OutcomeName(Outcome outcome);

std::string ToJsonLine(const Op& op);
absl::StatusOr<Op> FromJsonLine(const std::string& line);
absl::Status WriteHistory(const std::string& path, const std::vector<Op>& ops);
absl::StatusOr<std::vector<Op>> ReadHistory(const std::string& path);

// "w c2 /faults/r0 := c2-17 -> ok v5 @r3 [12.301s, 12.345s]": one line for
// failure reports.
std::string Describe(const Op& op);
// Seconds with millisecond precision, for reports: "12.301s".
std::string Seconds(int64_t ns);

// Nanoseconds on the monotonic clock since the first call in this process:
// the one clock of a run's history and nemesis log.
int64_t RunClockNs();

// Collects ops from many client threads and hands out ids.
class HistoryRecorder {
 public:
  int64_t NextId() ABSL_LOCKS_EXCLUDED(mu_);
  void Add(Op op) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<Op> Take() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<Op> ops_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::faults
