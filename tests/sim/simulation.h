// RunSimulation: one seeded, replayable history of a Raft cluster under
// faults, checked as it runs.
//
// Every choice (scenario knobs, message delays and losses, faults, client
// operations, each core's election jitter seed) comes from one
// std::mt19937_64 seeded by `seed`, and all state is kept in ordered
// containers, so a seed replays the same history, event for event.
//
// A run has two phases. For `steps` ticks, clients write and read
// (ReadIndex) through random replicas with timeouts and retries while a
// nemesis partitions the network (symmetric, asymmetric, isolated leader),
// loses, duplicates, delays and reorders messages, crashes and restarts
// replicas (losing what they had not synced), slows their disks, changes the
// membership (add learner or voter, promote, remove, the leader included),
// transfers leadership and forces snapshots. Then every fault heals, and
// within `liveness_ticks` a leader must emerge, a new proposal commit, and
// every member catch up. Safety is checked after every event (see Checker
// and SimNode); reads and writes are checked for linearizability against the
// real-time order of the client operations.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace synod::sim {

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;  // initial voters
  // Ticks of the faulty phase.
  int steps = 300;
  // Ticks allowed, after the faults heal, for a leader to emerge and a
  // proposal to commit, and then the longest a member catching up may go
  // without progress; 0 picks 30 election timeouts.
  int liveness_ticks = 0;
  // Injects a known Raft bug into the core (Config's test-only switch):
  // commit entries of earlier terms by counting replicas (§3.6.2).
  bool inject_commit_prior_term = false;
  // A forger on the network, during the faulty phase: random messages and
  // mutations of real ones that no honest member sends (a type only a
  // node's own driver reports, an unknown type, a wrong sender or receiver,
  // an answer from a node that is not a member) are stepped into live
  // replicas. Each must be refused and change nothing (RawNode::Step), and
  // every other check still holds. Off: the history of a seed is unchanged.
  bool forge_messages = false;
};

struct SimStats {
  uint64_t events = 0;
  uint64_t messages = 0;
  uint64_t leaders = 0;  // terms that had a leader
  uint64_t writes_acked = 0;
  uint64_t reads_served = 0;
  uint64_t client_timeouts = 0;
  uint64_t client_retries = 0;
  uint64_t crashes = 0;
  uint64_t conf_changes = 0;  // applied by their proposer's leader
  uint64_t snapshots_sent = 0;
  uint64_t final_index = 0;     // highest committed index
  uint64_t recovery_ticks = 0;  // heal -> every member caught up
  uint64_t forged = 0;          // forged messages stepped (forge_messages)
};

struct SimResult {
  bool ok = true;
  std::string failure;            // the first violation, with its simulated time
  bool liveness_failure = false;  // the failure is liveness, not safety
  SimStats stats;
};

// Runs the history of `options.seed`. `trace`, when not null, receives one
// line per event.
SimResult RunSimulation(const SimOptions& options, std::ostream* trace);

}  // namespace synod::sim
