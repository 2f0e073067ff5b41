// ClientWorkload: what the sequential, session and exactly-once workloads
// share: one thread per client from Start to Stop, a count of operations,
// the choice of replica, and the final listing on every replica.
//
// A subclass gives Setup, RunClient (the client loop, which returns soon
// after stopping() turns true) and ReadFinal, and calls Stop() in its own
// destructor, before the members RunClient uses are gone.
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

class ClientWorkload {
 public:
  ClientWorkload(NetnsCluster* cluster, HistoryRecorder* history, int clients)
      : cluster_(cluster), history_(history), clients_(clients) {}
  virtual ~ClientWorkload() { Stop(); }
  ClientWorkload(const ClientWorkload&) = delete;
  ClientWorkload& operator=(const ClientWorkload&) = delete;

  virtual absl::Status Setup(absl::Duration timeout) = 0;
  void Start();
  void Stop();
  int64_t ops_done() const { return ops_done_.load(); }
  // After every fault is healed: the final reads, recorded in the history.
  virtual absl::Status ReadFinal(absl::Duration timeout) = 0;

 protected:
  virtual void RunClient(int client) = 0;
  bool stopping() const { return stop_.load(); }
  void CountOp() { ops_done_.fetch_add(1); }
  // Client i's home replica (i mod n + 1) 70 % of the time, else a random
  // one, as the register and bank workloads choose.
  int PickReplica(int client, std::mt19937_64* rng) const;
  // ListChildren (tree_calls.h) of `parent` on every replica.
  absl::Status ListEverywhere(const std::string& parent, absl::Time deadline);

  NetnsCluster* const cluster_;
  HistoryRecorder* const history_;

 private:
  const int clients_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ops_done_{0};
  std::vector<std::thread> threads_;
};

}  // namespace synod::faults
