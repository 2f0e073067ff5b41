// ClientWorkload: what every workload's clients share: one thread per
// client from Start to Stop, a count of operations, the choice of replica,
// and the final listing of a parent on every replica.
//
// A subclass gives RunClient (the client loop, which returns soon after
// stopping() turns true) and calls Stop() in its own destructor, before
// the members RunClient uses are gone; it also has the Setup(timeout) and
// ReadFinal(timeout) that synod-faults' Drive calls (their results differ
// by workload).
//
// Thread: Setup/Start/Stop/ReadFinal from the owner thread; RunClient on one
// thread per client in between.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/faults/history.h"
#include "tests/faults/netns_cluster.h"

namespace synod::faults {

// The options every workload has (each workload's Options extends them).
struct ClientOptions {
  int clients = 5;
  uint64_t seed = 1;  // with the client's index, seeds each client's choices
  // Pause between one client's operations (keeps the history, and the load
  // on a shared machine, moderate).
  absl::Duration think = absl::Milliseconds(20);
  // Bound on each client's operations, whatever the duration.
  int64_t max_ops_per_client = 100000;
};

class ClientWorkload {
 public:
  ClientWorkload(NetnsCluster* cluster, HistoryRecorder* history, int clients)
      : cluster_(cluster), recorder_(history), clients_(clients) {}
  virtual ~ClientWorkload() { Stop(); }
  ClientWorkload(const ClientWorkload&) = delete;
  ClientWorkload& operator=(const ClientWorkload&) = delete;

  void Start();
  void Stop();
  int64_t ops_done() const { return ops_done_.load(); }

 protected:
  virtual void RunClient(int client) = 0;
  bool stopping() const { return stop_.load(); }
  void CountOp() { ops_done_.fetch_add(1); }
  // Client i's home replica (i mod n + 1) 70 % of the time, else a random
  // one.
  int PickReplica(int client, std::mt19937_64* rng) const;
  // ListChildren (tree_calls.h) of `parent` on every replica.
  absl::Status ListEverywhere(const std::string& parent, absl::Time deadline);

  NetnsCluster* const cluster_;
  HistoryRecorder* const recorder_;  // ids, and the ops of all but the bank workload

 private:
  const int clients_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ops_done_{0};
  std::vector<std::thread> threads_;
};

}  // namespace synod::faults
