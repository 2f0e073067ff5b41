// RegisterWorkload: clients that read, write and compare-and-set a few
// Synod nodes used as registers, over the raw gRPC Tree API, and record
// every operation in a History.
//
// Keys /faults/r0.. are created with data "init" (version 0). Each client
// has a home replica (client i talks to replica i mod n + 1 most of the
// time, else to a random one) and issues one operation at a time: a
// LINEARIZABLE Get, a Set, or a Set with expected_version (the version the
// client last saw on that key). Written values are unique ("c<client>-<n>").
// Outcome: ok on success; fail when Synod says the write did not and will
// not take effect (BAD_VERSION, NOT_LEADER, UNAVAILABLE with its header);
// unknown otherwise (deadline, lost connection, DEADLINE_EXCEEDED).
//
// Thread: Start/Stop/Setup/ReadFinal from the owner thread; one thread per
// client in between.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/faults/client_workload.h"
#include "tests/faults/history.h"
#include "tests/faults/netns_cluster.h"
#include "synod/v1/common.pb.h"
#include "tests/faults/register_checker.h"

namespace synod::faults {

class RegisterWorkload : public ClientWorkload {
 public:
  struct Options : ClientOptions {
    int keys = 3;
    absl::Duration op_timeout = absl::Seconds(1);
    // Negative control: the clients' reads are SERIALIZABLE (the serving
    // replica's local state) but recorded like the others, so the checker
    // must find stale reads once a replica lags or is cut off. The final
    // reads stay LINEARIZABLE.
    bool serializable_reads = false;
  };

  RegisterWorkload(NetnsCluster* cluster, HistoryRecorder* history, const Options& options);
  ~RegisterWorkload() override { Stop(); }

  static std::string Key(int k);
  // Creates the keys (retrying through an election, for up to `timeout`).
  absl::Status Setup(absl::Duration timeout);

  // After every fault is healed: one LINEARIZABLE read of every key on
  // every replica (recorded in the history), then the data at each version
  // of each key, for CheckAcknowledgedWritesSurvive.
  absl::StatusOr<std::map<std::string, FinalKeyState>> ReadFinal(absl::Duration timeout);

 private:
  void RunClient(int client) override;
  // One read, recorded; true if it succeeded.
  bool Read(int client, int replica, const std::string& key, v1::Consistency consistency,
            Op* out);

  const Options options_;
};

}  // namespace synod::faults
