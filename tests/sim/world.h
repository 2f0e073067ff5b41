// Simulation: the simulated world behind RunSimulation (simulation.h):
// nodes and their disks, the network, the clients, the nemesis and the
// liveness probe, driven by one event queue and one PRNG. Split over
// simulation.cc (world, network, heal and liveness), clients.cc (clients,
// linearizability, membership callbacks) and nemesis.cc (faults, operator).
//
// Thread: single-threaded. Invariant: every random choice is drawn from rng_
// in event order and every container that drives behaviour is ordered, so a
// seed replays exactly.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "tests/sim/checker.h"
#include "tests/sim/durable_log.h"
#include "tests/sim/sim_node.h"
#include "tests/sim/simulation.h"
#include "tests/sim/state_machine.h"
#include "tests/sim/trace.h"

namespace synod::sim {

using raft::ConfChange;
using raft::ConfState;
using raft::Entry;
using raft::LogIndex;
using raft::Message;
using raft::NodeId;

// Network conditions; the nemesis changes them for a while, then calm_
// (the seed's normal network) returns.
struct NetConditions {
  double loss = 0;
  double duplicate = 0;
  uint64_t min_delay = 1;
  uint64_t max_delay = 20;
  double long_delay = 0;  // chance of a delay of several ticks
};

// A refused or timed-out operation is retried this many times.
constexpr int kClientRetries = 3;

// One closed-loop client: one operation at a time, with a timeout.
struct Client {
  enum class Kind { kIdle, kWrite, kRead };
  Kind kind = Kind::kIdle;
  uint64_t op = 0;  // unique per attempt
  int attempt = 0;  // 0: first try
  NodeId node = raft::kNoNode;
  uint64_t incarnation = 0;
  uint64_t value = 0;
  std::string context;
  // Highest index any operation that completed before this one began had
  // observed: a linearizable result must not be older.
  LogIndex observed_at_start = 0;
};

class Simulation final : public SimNode::Host {
 public:
  Simulation(const SimOptions& options, std::ostream* trace)
      : options_(options), rng_(options.seed), checker_(&now_), tracer_(&now_, trace) {}

  SimResult Run();

  // SimNode::Host.
  uint64_t Now() const override { return now_; }
  void Send(const Message& m) override;
  uint64_t DiskDelay(NodeId id) override;
  void ScheduleDiskDone(NodeId id, uint64_t incarnation, uint64_t at) override;
  void OnApplied(NodeId id, uint64_t incarnation, const Entry& entry) override;
  void OnConfChange(NodeId id, const ConfChange& change, const ConfState& conf_state) override;
  void OnRead(NodeId id, uint64_t incarnation, const std::string& context, LogIndex index,
              LogIndex applied) override;
  void OnLeaderCommit(NodeId id, LogIndex commit, const ConfState& conf_state) override;
  Checker& checker() override { return checker_; }
  Tracer& tracer() override { return tracer_; }

 private:
  // Randomness: every draw goes through rng_, in a fixed order.
  uint64_t Rand(uint64_t lo, uint64_t hi) { return lo + rng_() % (hi - lo + 1); }
  bool Chance(double p) { return static_cast<double>(rng_() >> 11) * 0x1.0p-53 < p; }
  template <typename T>
  T Pick(std::initializer_list<T> choices) {
    return *(choices.begin() + Rand(0, choices.size() - 1));
  }
  NodeId PickNode(const std::vector<NodeId>& ids) { return ids[Rand(0, ids.size() - 1)]; }

  void At(uint64_t time, std::function<void()> fn) {
    events_.emplace(std::make_pair(time, next_seq_++), std::move(fn));
  }
  void After(uint64_t delay, std::function<void()> fn) { At(now_ + delay, std::move(fn)); }
  void Trace(absl::string_view text) { tracer_.Line(text); }

  void ChooseScenario();
  SimNode* AddNode(NodeId id);
  void StartNode(SimNode* node);
  void Tick(NodeId id, uint64_t incarnation);
  void Restart(NodeId id);
  // Alive and not shut down for good (a removed replica still up counts).
  bool Up(NodeId id) const;
  std::vector<NodeId> UpNodes() const;
  SimNode* Leader() const;

  bool Blocked(NodeId from, NodeId to) const { return blocked_.count({from, to}) > 0; }
  void Deliver(const Message& m, uint64_t from_incarnation);
  void Dropped(const Message& m, uint64_t from_incarnation);

  void Nemesis();
  void Partition();
  void IsolateLeader();
  void CutLinks();
  void ChangeNetwork();
  void CrashOne();
  void LeaderChurn();
  void Operator();
  void ShutDownWhenSafe(NodeId gone, LogIndex index, const std::vector<NodeId>& voters);
  void HealLinksLater();
  void ChangeMembership();
  void TransferLeadership();
  void Heal();

  // The forger (forger.cc).
  void Forge();
  Message ForgeBase(NodeId to);

  void ClientNext(int c);
  void ClientAttempt(int c, Client::Kind kind, int attempt);
  void ClientFailed(int c);
  void ClientDone(int c);
  void LivenessProbe();
  void FinalCheck(const std::vector<NodeId>& members);

  const SimOptions options_;
  std::mt19937_64 rng_;
  uint64_t now_ = 0;
  Checker checker_;
  Tracer tracer_;
  SimStats stats_;

  // Pending events, by (time, sequence): equal times run in schedule order.
  std::map<std::pair<uint64_t, uint64_t>, std::function<void()>> events_;
  uint64_t next_seq_ = 0;

  SimNode::Options node_options_;
  std::map<NodeId, std::unique_ptr<DurableLog>> disks_;
  std::map<NodeId, std::unique_ptr<SimNode>> nodes_;
  std::set<NodeId> removed_;    // some node applied their REMOVE_NODE
  std::set<NodeId> shut_down_;  // removed and stopped for good
  NodeId next_id_ = 0;
  size_t max_members_ = 0;  // voters + learners, as the leader sees them
  NodeId max_id_ = 0;
  size_t min_voters_ = 0;
  size_t max_voters_ = 0;

  NetConditions calm_;
  NetConditions net_;
  std::set<std::pair<NodeId, NodeId>> blocked_;  // directed links that drop
  std::set<NodeId> slow_disks_;
  std::map<NodeId, uint64_t> tick_period_;  // nodes whose clock runs fast or slow
  // Generations of the faults that end by themselves: an end applies only
  // if no newer fault of its kind replaced the one it ends.
  uint64_t links_gen_ = 0;
  uint64_t net_gen_ = 0;
  std::map<NodeId, uint64_t> disk_gen_;
  std::map<NodeId, uint64_t> clock_gen_;
  uint64_t disk_max_delay_ = 0;
  double disk_instant_ = 1;

  std::vector<Client> clients_;
  uint64_t next_op_ = 1;
  uint64_t next_value_ = 1;
  LogIndex max_observed_ = 0;
  std::vector<ListStateMachine::Value> acked_;  // writes acknowledged to clients
  uint64_t client_timeout_ = 0;
  uint64_t client_think_ = 0;  // longest pause between two operations

  // Recent messages on the network, which the forger mutates (kept only
  // with forge_messages).
  std::deque<Message> recent_;

  bool faulty_ = true;  // the nemesis phase
  uint64_t churn_until_ = 0;
  uint64_t operator_interval_ = 0;  // mean ticks between operator actions (0: none)
  bool done_ = false;
  uint64_t heal_time_ = 0;
  std::set<uint64_t> probes_;  // values proposed by the liveness probe
  LogIndex probe_index_ = 0;   // where the first probe committed
  uint64_t next_probe_ = 0;
  bool leader_seen_ = false;
  int liveness_ticks_ = 0;
  uint64_t members_progress_ = 0;  // sum of the members' applied indexes
  uint64_t last_progress_ = 0;
};

}  // namespace synod::sim
