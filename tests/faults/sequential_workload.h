// SequentialWorkload: clients that create PERSISTENT_SEQUENTIAL children
// /faults/seq/n-<10 digits> through faults, over the raw gRPC Tree API,
// one create at a time each (home replica i mod n + 1 most of the time,
// else a random one), with a tag unique in the run ("c<client>-<n>") as
// data, and no session (at-most-once: an unknown create is not retried).
// Outcomes as in call_outcome.h. At the end the parent is listed on every
// replica (tree_calls.h). CheckSequential (sequential_checker.h) checks
// the history.
//
// Thread: as ClientWorkload.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/faults/client_workload.h"

namespace synod::faults {

class SequentialWorkload : public ClientWorkload {
 public:
  struct Options : ClientOptions {
    absl::Duration op_timeout = absl::Seconds(1);
  };
  static constexpr char kParent[] = "/faults/seq";

  SequentialWorkload(NetnsCluster* cluster, HistoryRecorder* history, const Options& options);
  ~SequentialWorkload() override { Stop(); }

  absl::Status Setup(absl::Duration timeout);
  // Lists the parent on every replica.
  absl::Status ReadFinal(absl::Duration timeout);

 private:
  void RunClient(int client) override;

  const Options options_;
};

}  // namespace synod::faults
