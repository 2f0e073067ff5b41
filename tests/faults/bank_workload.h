// BankWorkload: clients that move money between accounts (nodes
// /faults/bank/a<i>) with one Multi of two version-checked Sets, and read
// every account at one revision, over the raw gRPC Tree API; recorded in a
// BankHistory for CheckBank (see bank_checker.h for the account format and
// what is checked).
//
// A transfer reads both accounts (LINEARIZABLE Gets), then sends a Multi of
// Set(from, balance - amount, expected_version) and Set(to, balance +
// amount, expected_version): both apply or neither. A snapshot takes the
// revision R of a LINEARIZABLE Get on one replica, then reads every account
// at R (GetRequest.revision) on that replica. Outcomes as in
// call_outcome.h; a snapshot with any failed read is dropped (a read
// changes nothing).
//
// Thread: Setup/Start/Stop/ReadFinal/TakeHistory from the owner thread;
// one thread per client in between.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/faults/bank_checker.h"
#include "tests/faults/client_workload.h"
#include "tests/faults/history.h"
#include "tests/faults/netns_cluster.h"

namespace synod::faults {

class BankWorkload : public ClientWorkload {
 public:
  struct Options : ClientOptions {
    int accounts = 5;
    int64_t initial_balance = 100;
    absl::Duration op_timeout = absl::Seconds(1);
  };

  BankWorkload(NetnsCluster* cluster, HistoryRecorder* ids, const Options& options);
  ~BankWorkload() override { Stop(); }

  static std::string Account(int i);
  absl::Status Setup(absl::Duration timeout);

  // After every fault is healed: each account's final version (the highest
  // a LINEARIZABLE read on any replica returns) and its data at every
  // version still kept.
  absl::StatusOr<BankFinal> ReadFinal(absl::Duration timeout);
  BankHistory TakeHistory() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void RunClient(int client) override;
  // Returns true if the cluster answered (ok or a definite refusal).
  bool Transfer(int client, int replica, int64_t n, std::mt19937_64* rng);
  bool Snapshot(int client, int replica);

  const Options options_;
  absl::Mutex mu_;
  BankHistory history_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::faults
