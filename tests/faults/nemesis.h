// Nemesis: injects one fault at a time into a NetnsCluster on a seeded
// schedule, and logs every action with its time on the run clock (the
// history's) and in UTC.
//
// Schedule: calm for 2-4 s, then a fault for 3-8 s, then its heal; every
// choice (which fault, how long, which replica when the fault does not
// target the leader) comes from one std::mt19937_64 seeded with --seed, so a
// seed replays the same sequence of choices. Faults aimed at the leader hit
// whichever replica leads at that moment.
//
// Thread: the harness's main thread (it restarts replicas, see
// NetnsCluster).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/faults/netns_cluster.h"

namespace synod::faults {

enum class Fault {
  kKillOne,          // kill -9 a random replica, restart it after the fault
  kKillLeader,       // kill -9 the leader
  kKillAll,          // kill -9 every replica, restart them all
  kPauseLeader,      // SIGSTOP the leader, SIGCONT after
  kIsolateLeader,    // drop all traffic between the leader and its peers
  kPartitionHalves,  // a random minority against the majority
  kOneWay,           // drop the leader's packets to its peers, or theirs to it
  kDegrade,          // netem delay/loss (or a tbf rate limit) on one or all
};

const char* FaultName(Fault fault);
// Comma-separated fault names or groups: kill (kill-one, kill-leader,
// kill-all), pause (pause-leader), partition (isolate-leader,
// partition-halves, one-way), net (degrade), all.
absl::StatusOr<std::vector<Fault>> ParseFaults(const std::string& spec);
// Every name ParseFaults accepts, for --help.
std::string FaultNamesHelp();

class Nemesis {
 public:
  // `log` stays owned by the caller and open while the nemesis runs.
  Nemesis(NetnsCluster* cluster, std::vector<Fault> faults, uint64_t seed, std::FILE* log);

  // Runs the schedule until `until` or `stop`, then heals everything.
  // Errors: a fault that could not be applied or healed (a replica that will
  // not restart, an `ip` command that failed).
  absl::Status Run(absl::Time until, const std::atomic<bool>& stop);
  // Restarts dead replicas, resumes paused ones, heals the network.
  absl::Status HealAll();
  // A timestamped line in the log (and on stderr).
  void Log(const std::string& line);
  int faults_injected() const { return faults_injected_; }
  // Replicas found dead that the nemesis had not killed.
  int unexpected_exits() const { return unexpected_exits_; }

 private:
  absl::Status Apply(Fault fault);
  // Sleeps until `d` passed, `until`, or `stop`, whichever comes first.
  void Sleep(absl::Duration d, absl::Time until, const std::atomic<bool>& stop);
  int Leader();
  int RandomMember();

  NetnsCluster* const cluster_;
  const std::vector<Fault> faults_;
  std::mt19937_64 rng_;
  std::FILE* const log_;
  std::vector<int> killed_;
  int faults_injected_ = 0;
  int unexpected_exits_ = 0;
};

}  // namespace synod::faults
