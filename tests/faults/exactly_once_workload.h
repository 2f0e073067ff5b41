// ExactlyOnceWorkload: clients that increment counters /faults/eo/k<i>
// through faults, each increment a PERSISTENT_SEQUENTIAL child "n-" whose
// data is a tag unique in the run, sent over the raw gRPC Tree API with the
// client's session and the next sequence number (WriteContext). The session
// is opened and kept alive by the synod::Client library (SessionClients);
// the writes do not go through it, so the workload decides and counts the
// retries: after an unknown outcome, or a refusal that says only that this
// attempt was not proposed (NOT_LEADER, UNAVAILABLE, no connection), the
// same (session, sequence) is sent again, on the next replica, until Synod
// acknowledges it, or `max_attempts` / `retry_for` run out, or the session
// is gone (unknown if any attempt may have applied, else fail). A new
// session starts again at sequence 1.
//
// At the end every counter is listed on every replica.
// CheckExactlyOnce (exactly_once_checker.h) checks the history.
//
// Thread: as ClientWorkload.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/faults/client_workload.h"
#include "tests/faults/session_clients.h"

namespace synod::faults {

class ExactlyOnceWorkload : public ClientWorkload {
 public:
  struct Options : ClientOptions {
    int counters = 3;
    absl::Duration session_timeout = absl::Seconds(10);
    absl::Duration op_timeout = absl::Seconds(1);
    int max_attempts = 100;
    absl::Duration retry_for = absl::Seconds(15);
  };

  ExactlyOnceWorkload(NetnsCluster* cluster, HistoryRecorder* history, const Options& options);
  ~ExactlyOnceWorkload() override { Stop(); }

  static std::string Counter(int i);
  absl::Status Setup(absl::Duration timeout);
  absl::Status ReadFinal(absl::Duration timeout);

 private:
  void RunClient(int client) override;
  // Sends one increment (first to `first_replica`, then to the next ones)
  // until it is answered; fills op's outcome.
  void Increment(int first_replica, uint64_t session, const std::string& secret, uint64_t sequence,
                 Op* op);

  const Options options_;
  std::unique_ptr<SessionClients> sessions_;
};

}  // namespace synod::faults
