// SequentialWorkload: clients that create PERSISTENT_SEQUENTIAL children
// /faults/seq/n-<10 digits> through faults, over the raw gRPC Tree API,
// one create at a time each (home replica i mod n + 1 most of the time,
// else a random one), with a tag unique in the run ("c<client>-<n>") as
// data, and no session (at-most-once: an unknown create is not retried).
// Outcomes as in call_outcome.h. At the end the parent is listed on every
// replica (tree_calls.h). CheckSequential (sequential_checker.h) checks
// the history.
//
// Thread: Setup/Start/Stop/ReadFinal from the owner thread; one thread per
// client in between.
#pragma once

#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/faults/client_threads.h"
#include "tests/faults/history.h"
#include "tests/faults/netns_cluster.h"

namespace synod::faults {

class SequentialWorkload {
 public:
  struct Options {
    int clients = 5;
    uint64_t seed = 1;
    absl::Duration op_timeout = absl::Seconds(1);
    absl::Duration think = absl::Milliseconds(20);
    int64_t max_ops_per_client = 100000;
  };
  static constexpr char kParent[] = "/faults/seq";

  SequentialWorkload(NetnsCluster* cluster, HistoryRecorder* history, const Options& options);

  absl::Status Setup(absl::Duration timeout);
  void Start();
  void Stop() { threads_.Stop(); }
  int64_t ops_done() const { return threads_.ops_done(); }
  // After every fault is healed: lists the parent on every replica.
  absl::Status ReadFinal(absl::Duration timeout);

 private:
  void RunClient(int client);

  NetnsCluster* const cluster_;
  HistoryRecorder* const history_;
  const Options options_;
  ClientThreads threads_;
};

}  // namespace synod::faults
