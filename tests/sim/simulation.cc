#include "tests/sim/simulation.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/sim/checker.h"
#include "tests/sim/durable_log.h"
#include "tests/sim/sim_node.h"
#include "tests/sim/state_machine.h"
#include "tests/sim/trace.h"

namespace synod::sim {
namespace {

using raft::ConfChange;
using raft::ConfState;
using raft::Entry;
using raft::LogIndex;
using raft::Message;
using raft::NodeId;

// Network conditions; the nemesis changes them, the heal restores kCalm.
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

void Simulation::ChooseScenario() {
  raft::Config& c = node_options_.config;
  c.election_tick = static_cast<int>(Rand(6, 12));
  c.heartbeat_tick = static_cast<int>(Rand(1, 3));
  c.pre_vote = Chance(0.8);
  c.check_quorum = Chance(0.8);
  // Message size and window go together: one entry per message with a
  // window of one would take longer to catch a replica up than any bound.
  switch (Rand(0, 4)) {
    case 0:
      c.max_size_per_msg = 1;  // one entry per message
      c.max_inflight_msgs = 256;
      break;
    case 1:
      c.max_size_per_msg = 600;
      c.max_inflight_msgs = 16;
      break;
    case 2:
      c.max_size_per_msg = 4096;
      c.max_inflight_msgs = 2;
      break;
    case 3:
      c.max_size_per_msg = 1 << 20;
      c.max_inflight_msgs = 1;
      break;
    default:
      c.max_size_per_msg = 1 << 20;
      c.max_inflight_msgs = 256;
      break;
  }
  c.max_committed_size_per_ready = Pick<uint64_t>({0, 1, 4096});
  c.max_uncommitted_entries_size = Pick<uint64_t>({0, 0, 16384});
  c.testing_unsafe_commit_prior_term = options_.inject_commit_prior_term;
  liveness_ticks_ = options_.liveness_ticks > 0 ? options_.liveness_ticks : 30 * c.election_tick;
  operator_interval_ = Pick<uint64_t>({0, 5, 20});
  node_options_.snapshot_every = Pick<uint64_t>({0, 8, 30, 100});
  node_options_.compact_margin = Rand(0, 20);
  node_options_.step_while_writing = Chance(0.5);
  node_options_.snapshot_syncs_commit = Chance(0.5);
  calm_.max_delay = Rand(5, 60);
  net_ = calm_;
  disk_max_delay_ = Pick<uint64_t>({0, 10, 60});
  disk_instant_ = Pick({0.3, 0.9});
  clients_.resize(Rand(2, 8));
  // Busy clients batch their writes; idle ones leave a new leader's first
  // appends alone in their messages.
  client_think_ = Pick<uint64_t>({1, 1, 10, 40}) * kTickUnits;
  client_timeout_ = static_cast<uint64_t>(c.election_tick) * Rand(1, 3) * kTickUnits;
  const size_t n = static_cast<size_t>(options_.nodes);
  min_voters_ = n <= 3 ? 2 : 3;
  max_voters_ = n + 1;
  max_id_ = n + 4;
  if (tracer_.on()) {
    Trace(absl::StrCat("scenario seed=", options_.seed, " nodes=", n,
                       " election_tick=", c.election_tick, " heartbeat_tick=", c.heartbeat_tick,
                       " pre_vote=", c.pre_vote, " check_quorum=", c.check_quorum,
                       " max_size_per_msg=", c.max_size_per_msg,
                       " max_inflight=", c.max_inflight_msgs,
                       " max_committed_per_ready=", c.max_committed_size_per_ready,
                       " max_uncommitted=", c.max_uncommitted_entries_size,
                       " snapshot_every=", node_options_.snapshot_every,
                       " compact_margin=", node_options_.compact_margin,
                       " net_delay<=", calm_.max_delay, " disk_delay<=", disk_max_delay_,
                       " clients=", clients_.size(), " think<=", client_think_, " operator_every~",
                       operator_interval_, " step_while_writing=", node_options_.step_while_writing,
                       " snapshot_syncs_commit=", node_options_.snapshot_syncs_commit));
  }
}

SimNode* Simulation::AddNode(NodeId id) {
  auto& disk = disks_[id];
  disk = std::make_unique<DurableLog>();
  auto& node = nodes_[id];
  node = std::make_unique<SimNode>(id, this, disk.get(), node_options_);
  return node.get();
}

void Simulation::StartNode(SimNode* node) {
  node->Start(node->incarnation() + 1, rng_());
  if (!node->alive()) return;
  const uint64_t incarnation = node->incarnation();
  const NodeId id = node->id();
  After(Rand(1, kTickUnits), [this, id, incarnation] { Tick(id, incarnation); });
}

void Simulation::Tick(NodeId id, uint64_t incarnation) {
  SimNode* node = nodes_[id].get();
  if (!node->alive() || node->incarnation() != incarnation) return;
  node->Tick();
  // Clocks jitter a little (a tick lasts 97..103 units), and the nemesis
  // may make one run fast or slow.
  auto period = tick_period_.find(id);
  const uint64_t base = period == tick_period_.end() ? kTickUnits : period->second;
  After(base - 3 + Rand(0, 6), [this, id, incarnation] { Tick(id, incarnation); });
}

bool Simulation::Up(NodeId id) const {
  auto it = nodes_.find(id);
  return it != nodes_.end() && it->second->alive() && shut_down_.count(id) == 0;
}

std::vector<NodeId> Simulation::UpNodes() const {
  std::vector<NodeId> ids;
  for (const auto& [id, node] : nodes_) {
    if (Up(id)) ids.push_back(id);
  }
  return ids;
}

SimNode* Simulation::Leader() const {
  SimNode* best = nullptr;
  for (const auto& [id, node] : nodes_) {
    if (!Up(id) || node->role() != raft::Role::kLeader) continue;
    if (best == nullptr || node->term() > best->term()) best = node.get();
  }
  return best;
}

void Simulation::Restart(NodeId id) {
  SimNode* node = nodes_[id].get();
  if (node->alive() || shut_down_.count(id) > 0) return;
  StartNode(node);
}

// --- network ---------------------------------------------------------------

void Simulation::Send(const Message& m) {
  ++stats_.messages;
  auto from = nodes_.find(m.from());
  if (from == nodes_.end()) {
    checker_.Fail(absl::StrCat("message from unknown node ", m.from(), " (type ",
                               raftpb::MessageType_Name(m.type()), ")"));
    return;
  }
  const uint64_t from_incarnation = from->second->incarnation();
  if (m.type() == raftpb::MSG_VOTE_RESP && !m.reject()) checker_.OnVote(m.from(), m.term(), m.to());
  if (m.type() == raftpb::MSG_SNAP) ++stats_.snapshots_sent;
  if (nodes_.count(m.to()) == 0 || Blocked(m.from(), m.to()) || Chance(net_.loss)) {
    Dropped(m, from_incarnation);
    return;
  }
  const int copies = Chance(net_.duplicate) ? 2 : 1;
  for (int k = 0; k < copies; ++k) {
    uint64_t delay = Rand(net_.min_delay, net_.max_delay);
    if (Chance(net_.long_delay)) delay += Rand(kTickUnits, 30 * kTickUnits);
    After(delay, [this, m, from_incarnation] { Deliver(m, from_incarnation); });
  }
}

void Simulation::Deliver(const Message& m, uint64_t from_incarnation) {
  SimNode* to = nodes_[m.to()].get();
  const SimNode* from = nodes_[m.from()].get();
  // A process that dies takes the messages still in its socket buffers with
  // it: a crashed leader's last appends often reach nobody.
  const bool sender_died = !from->alive() || from->incarnation() != from_incarnation;
  if (Blocked(m.from(), m.to()) || !to->alive() || (sender_died && Chance(0.5))) {
    Dropped(m, from_incarnation);
    return;
  }
  to->Deliver(m);
  if (m.type() == raftpb::MSG_SNAP) {
    const NodeId from = m.from();
    const NodeId target = m.to();
    After(Rand(1, 20), [this, from, target, from_incarnation] {
      SimNode* sender = nodes_[from].get();
      if (sender->alive() && sender->incarnation() == from_incarnation) {
        sender->ReportSnapshot(target, true);
      }
    });
  }
}

// A transport notices some failures: a snapshot stream breaks, a peer
// connection drops. The sender hears of them later.
void Simulation::Dropped(const Message& m, uint64_t from_incarnation) {
  const bool snap = m.type() == raftpb::MSG_SNAP;
  if (!snap && !Chance(0.2)) return;
  const NodeId from = m.from();
  const NodeId target = m.to();
  After(Rand(1, 50), [this, from, target, from_incarnation, snap] {
    SimNode* sender = nodes_[from].get();
    if (!sender->alive() || sender->incarnation() != from_incarnation) return;
    if (snap) {
      sender->ReportSnapshot(target, false);
    } else {
      sender->ReportUnreachable(target);
    }
  });
}

uint64_t Simulation::DiskDelay(NodeId id) {
  if (slow_disks_.count(id) > 0) return Rand(kTickUnits, 15 * kTickUnits);
  if (disk_max_delay_ == 0 || Chance(disk_instant_)) return 0;
  return Rand(1, disk_max_delay_);
}

void Simulation::ScheduleDiskDone(NodeId id, uint64_t incarnation, uint64_t at) {
  At(at, [this, id, incarnation] { nodes_[id]->DiskDone(incarnation); });
}

// --- clients ---------------------------------------------------------------
// Client callbacks run inside a replica's processing: they only schedule.

void Simulation::ClientNext(int c) {
  if (done_) return;
  ClientAttempt(c, Chance(0.6) ? Client::Kind::kWrite : Client::Kind::kRead, 0);
}

// One attempt of an operation, at a random replica. A refused or timed-out
// attempt is retried elsewhere (as a new write value: the first attempt may
// still commit, and must not be mistaken for the retry).
void Simulation::ClientAttempt(int c, Client::Kind kind, int attempt) {
  if (done_) return;
  Client& client = clients_[c];
  std::vector<NodeId> up = UpNodes();
  if (up.size() > 1 && attempt > 0) {
    up.erase(std::remove(up.begin(), up.end(), client.node), up.end());
  }
  if (up.empty()) {
    After(kTickUnits, [this, c] { ClientNext(c); });
    return;
  }
  SimNode* node = nodes_[PickNode(up)].get();
  client.kind = kind;
  client.attempt = attempt;
  client.op = next_op_++;
  client.node = node->id();
  client.incarnation = node->incarnation();
  client.observed_at_start = max_observed_;
  const uint64_t op = client.op;
  if (kind == Client::Kind::kWrite) {
    client.value = next_value_++;
    if (tracer_.on()) {
      Trace(absl::StrCat("client ", c, " write v", client.value, " via n", node->id(),
                         attempt > 0 ? " (retry)" : ""));
    }
    node->Propose(EncodeValue(client.value, Rand(0, 300)), [this, c, op](absl::Status s) {
      if (s.ok() || clients_[c].op != op) return;
      if (tracer_.on()) Trace(absl::StrCat("client ", c, " write refused: ", s.ToString()));
      ClientFailed(c);
    });
  } else {
    client.context = absl::StrCat("read", op);
    if (tracer_.on()) {
      Trace(absl::StrCat("client ", c, " read via n", node->id(), attempt > 0 ? " (retry)" : ""));
    }
    node->ReadIndex(client.context);
  }
  After(client_timeout_, [this, c, op] {
    if (clients_[c].op != op) return;
    ++stats_.client_timeouts;
    if (tracer_.on()) Trace(absl::StrCat("client ", c, " op ", op, " timed out"));
    ClientFailed(c);
  });
}

void Simulation::ClientFailed(int c) {
  Client& client = clients_[c];
  const Client::Kind kind = client.kind;
  const int attempt = client.attempt;
  client.kind = Client::Kind::kIdle;
  client.op = 0;
  if (attempt >= kClientRetries) {
    After(Rand(0, client_think_), [this, c] { ClientNext(c); });
    return;
  }
  ++stats_.client_retries;
  After(Rand(1, kTickUnits / 2), [this, c, kind, attempt] { ClientAttempt(c, kind, attempt + 1); });
}

void Simulation::ClientDone(int c) {
  clients_[c].kind = Client::Kind::kIdle;
  clients_[c].op = 0;
  After(Rand(0, client_think_), [this, c] { ClientNext(c); });
}

void Simulation::OnApplied(NodeId id, uint64_t incarnation, const Entry& entry) {
  if (entry.type() != raftpb::ENTRY_NORMAL) return;
  std::optional<uint64_t> value = DecodeValue(entry.data());
  if (!value) return;
  if (probes_.count(*value) > 0 && probe_index_ == 0) {
    probe_index_ = entry.index();
    Trace(absl::StrCat("liveness probe committed at ", probe_index_));
  }
  for (size_t c = 0; c < clients_.size(); ++c) {
    Client& client = clients_[c];
    if (client.kind != Client::Kind::kWrite || client.value != *value || client.node != id ||
        client.incarnation != incarnation) {
      continue;
    }
    if (entry.index() <= client.observed_at_start) {
      checker_.Fail(absl::StrCat("linearizability: write v", *value, " acknowledged at index ",
                                 entry.index(),
                                 ", but an operation that completed before it "
                                 "began had observed index ",
                                 client.observed_at_start));
      return;
    }
    max_observed_ = std::max(max_observed_, entry.index());
    acked_.push_back({entry.index(), *value});
    ++stats_.writes_acked;
    if (tracer_.on()) {
      Trace(absl::StrCat("client ", c, " write v", *value, " acked at ", entry.index()));
    }
    ClientDone(static_cast<int>(c));
  }
}

void Simulation::OnRead(NodeId id, uint64_t incarnation, const std::string& context, LogIndex index,
                        LogIndex applied) {
  for (size_t c = 0; c < clients_.size(); ++c) {
    Client& client = clients_[c];
    if (client.kind != Client::Kind::kRead || client.context != context || client.node != id ||
        client.incarnation != incarnation) {
      continue;
    }
    if (index < client.observed_at_start) {
      checker_.Fail(absl::StrCat("linearizability: read on node ", id, " got read index ", index,
                                 ", but an operation that completed before it began had "
                                 "observed index ",
                                 client.observed_at_start));
      return;
    }
    max_observed_ = std::max(max_observed_, applied);
    ++stats_.reads_served;
    if (tracer_.on()) {
      Trace(absl::StrCat("client ", c, " read served by n", id, " index=", index,
                         " applied=", applied));
    }
    ClientDone(static_cast<int>(c));
  }
}

void Simulation::OnLeaderCommit(NodeId id, LogIndex commit, const ConfState& conf_state) {
  std::vector<std::pair<NodeId, const DurableLog*>> voters;
  for (NodeId v : conf_state.voters()) {
    auto disk = disks_.find(v);
    voters.emplace_back(v, disk == disks_.end() ? nullptr : disk->second.get());
  }
  checker_.OnLeaderCommit(id, commit, voters);
}

void Simulation::OnConfChange(NodeId id, const ConfChange& change, const ConfState& conf_state) {
  SimNode* leader = Leader();
  if (leader != nullptr && leader->id() == id) ++stats_.conf_changes;
  if (change.type() != ConfChange::REMOVE_NODE) return;
  const NodeId gone = change.node_id();
  if (removed_.count(gone) > 0 || nodes_.count(gone) == 0) return;
  removed_.insert(gone);
  const LogIndex index = nodes_[id]->state_machine().applied();
  std::vector<NodeId> voters(conf_state.voters().begin(), conf_state.voters().end());
  After(Rand(0, 3 * node_options_.config.election_tick) * kTickUnits,
        [this, gone, index, voters] { ShutDownWhenSafe(gone, index, voters); });
}

// The operator stops a removed replica once it is not the leader (the core
// lets a removed leader hand over first) and a majority of the new voters
// have applied its removal. Stopping it earlier can leave the new voters
// needing its vote for good: membership takes effect on apply, and in a
// two-to-one shrink the last voter may not know the removal is committed.
// Until then the removed replica crashes and restarts like any other.
void Simulation::ShutDownWhenSafe(NodeId gone, LogIndex index, const std::vector<NodeId>& voters) {
  if (done_ || checker_.failed()) return;
  SimNode* node = nodes_[gone].get();
  size_t applied = 0;
  for (NodeId v : voters) {
    auto it = nodes_.find(v);
    if (it != nodes_.end() && it->second->alive() &&
        it->second->state_machine().applied() >= index) {
      ++applied;
    }
  }
  if (node->alive() && node->role() != raft::Role::kLeader && 2 * applied > voters.size()) {
    Trace(absl::StrCat("shut down removed n", gone));
    node->Crash();
    shut_down_.insert(gone);
    return;
  }
  After(kTickUnits, [this, gone, index, voters] { ShutDownWhenSafe(gone, index, voters); });
}

// --- nemesis ---------------------------------------------------------------

void Simulation::Nemesis() {
  if (!faulty_ || done_) return;
  switch (Rand(0, 14)) {
    case 0:
      Partition();
      break;
    case 1:
      IsolateLeader();
      break;
    case 2:
      CutLinks();
      break;
    case 3:
    case 4:
      Trace("nemesis: heal network");
      blocked_.clear();
      break;
    case 5:
      ChangeNetwork();
      break;
    case 6:
      CrashOne();
      break;
    case 7: {
      std::vector<NodeId> up = UpNodes();
      if (up.empty()) break;
      const NodeId id = PickNode(up);
      slow_disks_.insert(id);
      Trace(absl::StrCat("nemesis: disk of n", id, " slow"));
      const uint64_t gen = ++disk_gen_[id];
      After(Rand(5, 60) * kTickUnits, [this, id, gen] {
        if (disk_gen_[id] != gen) return;
        slow_disks_.erase(id);
        Trace(absl::StrCat("nemesis: disk of n", id, " normal"));
      });
      break;
    }
    case 8:
    case 9:
      ChangeMembership();
      break;
    case 10:
      TransferLeadership();
      break;
    case 11: {
      std::vector<NodeId> up = UpNodes();
      if (up.empty()) break;
      const NodeId id = PickNode(up);
      const bool unavailable = Chance(0.3);
      Trace(
          absl::StrCat("nemesis: snapshot n", id, unavailable ? ", its snapshot unavailable" : ""));
      disks_[id]->set_snapshot_unavailable(unavailable);
      nodes_[id]->ForceSnapshot();
      break;
    }
    case 12:
    case 13:
      if (now_ >= churn_until_) {
        churn_until_ = now_ + Rand(20, 100) * kTickUnits;
        Trace("nemesis: leader churn");
        LeaderChurn();
      }
      break;
    case 14: {
      std::vector<NodeId> up = UpNodes();
      if (up.empty()) break;
      const NodeId id = PickNode(up);
      const uint64_t period = Pick<uint64_t>({50, 70, 100, 150, 250});
      tick_period_[id] = period;
      Trace(absl::StrCat("nemesis: clock of n", id, " ticks every ", period, " units"));
      const uint64_t gen = ++clock_gen_[id];
      After(Rand(10, 100) * kTickUnits, [this, id, gen] {
        if (clock_gen_[id] == gen) tick_period_.erase(id);
      });
      break;
    }
  }
  After(Rand(1, 25) * kTickUnits, [this] { Nemesis(); });
}

// Kills leaders as they appear, restarting them soon: old-term entries keep
// being left on a few replicas and taken over by the next leader, the
// history in which an unsafe commit rule loses committed entries
// (dissertation Figure 3.7).
void Simulation::LeaderChurn() {
  if (!faulty_ || done_ || now_ >= churn_until_) return;
  SimNode* leader = Leader();
  // Checked ten times a tick: a leader lives two ticks on average, and
  // often dies with its first appends still unreplicated.
  if (leader != nullptr && Chance(0.05)) {
    const NodeId id = leader->id();
    Trace(absl::StrCat("nemesis: crash leader n", id));
    leader->Crash();
    ++stats_.crashes;
    After(Rand(1, 10) * kTickUnits + Rand(0, kTickUnits), [this, id] { Restart(id); });
  }
  After(kTickUnits / 10, [this] { LeaderChurn(); });
}

// The operator: membership changes and leadership transfers at a steady
// rate while clients run (the nemesis adds more at random).
void Simulation::Operator() {
  if (!faulty_ || done_) return;
  if (Chance(0.7)) {
    ChangeMembership();
  } else {
    TransferLeadership();
  }
  After(Rand(1, 2 * operator_interval_) * kTickUnits, [this] { Operator(); });
}

void Simulation::Partition() {
  std::vector<NodeId> a, b;
  for (const auto& [id, node] : nodes_) (Chance(0.5) ? a : b).push_back(id);
  blocked_.clear();
  for (NodeId x : a) {
    for (NodeId y : b) {
      blocked_.insert({x, y});
      blocked_.insert({y, x});
    }
  }
  Trace(absl::StrCat("nemesis: partition {", absl::StrJoin(a, ","), "} | {", absl::StrJoin(b, ","),
                     "}"));
  HealLinksLater();
}

// Faults end by themselves after a while (or are replaced by newer ones):
// a cluster kept unavailable for the whole history tests little.
void Simulation::HealLinksLater() {
  const uint64_t gen = ++links_gen_;
  After(Rand(10, 100) * kTickUnits, [this, gen] {
    if (links_gen_ != gen || blocked_.empty()) return;
    Trace("nemesis: links heal");
    blocked_.clear();
  });
}

void Simulation::IsolateLeader() {
  SimNode* leader = Leader();
  if (leader == nullptr) return;
  const NodeId l = leader->id();
  const bool one_way = Chance(0.3);  // it can still send, but hears nothing
  for (const auto& [id, node] : nodes_) {
    if (id == l) continue;
    blocked_.insert({id, l});
    if (!one_way) blocked_.insert({l, id});
  }
  Trace(absl::StrCat("nemesis: isolate leader n", l, one_way ? " (inbound only)" : ""));
  HealLinksLater();
}

void Simulation::CutLinks() {
  std::vector<NodeId> ids;
  for (const auto& [id, node] : nodes_) ids.push_back(id);
  const uint64_t n = Rand(1, 4);
  std::vector<std::string> cut;
  for (uint64_t k = 0; k < n; ++k) {
    const NodeId x = PickNode(ids);
    const NodeId y = PickNode(ids);
    if (x == y) continue;
    blocked_.insert({x, y});
    cut.push_back(absl::StrCat(x, "->", y));
  }
  Trace(absl::StrCat("nemesis: cut ", absl::StrJoin(cut, " ")));
  HealLinksLater();
}

void Simulation::ChangeNetwork() {
  net_.loss = Pick({0.0, 0.01, 0.05, 0.2});
  net_.duplicate = Pick({0.0, 0.02, 0.1, 0.3});
  net_.max_delay = Pick<uint64_t>({10, 50, 200, 600});
  net_.long_delay = Pick({0.0, 0.0, 0.01});
  Trace(absl::StrCat("nemesis: network loss=", net_.loss, " dup=", net_.duplicate,
                     " delay<=", net_.max_delay, " long=", net_.long_delay));
  const uint64_t gen = ++net_gen_;
  After(Rand(10, 100) * kTickUnits, [this, gen] {
    if (net_gen_ != gen) return;
    Trace("nemesis: network calm");
    net_ = calm_;
  });
}

void Simulation::CrashOne() {
  std::vector<NodeId> up = UpNodes();
  if (up.empty()) return;
  SimNode* leader = Leader();
  const NodeId id = leader != nullptr && Chance(0.5) ? leader->id() : PickNode(up);
  Trace(absl::StrCat("nemesis: crash n", id));
  nodes_[id]->Crash();
  ++stats_.crashes;
  After(Rand(1, 40) * kTickUnits + Rand(0, kTickUnits), [this, id] { Restart(id); });
}

void Simulation::ChangeMembership() {
  SimNode* leader = Leader();
  if (leader == nullptr) return;
  const ConfState cs = leader->status().conf_state;
  std::vector<NodeId> voters(cs.voters().begin(), cs.voters().end());
  std::vector<NodeId> learners(cs.learners().begin(), cs.learners().end());
  const bool can_add = next_id_ <= max_id_;
  ConfChange cc;
  switch (Rand(0, 4)) {
    case 0:
      if (!can_add) return;
      cc.set_type(ConfChange::ADD_LEARNER);
      cc.set_node_id(next_id_++);
      break;
    case 1:
      if (!can_add || voters.size() >= max_voters_ || !Chance(0.3)) return;
      cc.set_type(ConfChange::ADD_VOTER);
      cc.set_node_id(next_id_++);
      break;
    case 2:
      if (learners.empty() || voters.size() >= max_voters_) return;
      cc.set_type(ConfChange::PROMOTE_LEARNER);
      cc.set_node_id(PickNode(learners));
      break;
    case 3:
      if (learners.empty()) return;
      cc.set_type(ConfChange::REMOVE_NODE);
      cc.set_node_id(PickNode(learners));
      break;
    case 4:
      if (voters.size() <= min_voters_) return;
      cc.set_type(ConfChange::REMOVE_NODE);
      cc.set_node_id(Chance(0.3) ? leader->id() : PickNode(voters));
      break;
  }
  if (nodes_.count(cc.node_id()) == 0) StartNode(AddNode(cc.node_id()));
  Trace(absl::StrCat("nemesis: propose ", ConfChange::Type_Name(cc.type()), " ", cc.node_id(),
                     " at leader n", leader->id()));
  leader->ProposeConfChange(cc, [this](absl::Status s) {
    if (!s.ok() && tracer_.on()) Trace(absl::StrCat("conf change refused: ", s.ToString()));
  });
}

void Simulation::TransferLeadership() {
  SimNode* leader = Leader();
  if (leader == nullptr) return;
  const ConfState cs = leader->status().conf_state;
  std::vector<NodeId> targets;
  for (NodeId v : cs.voters()) {
    if (v != leader->id()) targets.push_back(v);
  }
  // Now and then an ineligible target (a learner) that must be refused.
  if (Chance(0.1)) targets.assign(cs.learners().begin(), cs.learners().end());
  if (targets.empty()) return;
  const NodeId to = PickNode(targets);
  Trace(absl::StrCat("nemesis: transfer leadership n", leader->id(), " -> n", to));
  leader->TransferLeader(to);
}

// --- heal and liveness -----------------------------------------------------

void Simulation::Heal() {
  faulty_ = false;
  heal_time_ = now_;
  Trace("heal: network whole and calm, disks normal, every replica up");
  blocked_.clear();
  net_ = calm_;
  slow_disks_.clear();
  tick_period_.clear();
  for (auto& [id, disk] : disks_) disk->set_snapshot_unavailable(false);
  for (auto& [id, node] : nodes_) Restart(id);
  LivenessProbe();
}

// After healing: within the bound a leader must emerge and a proposal
// commit; then every member must catch up, never stalling for the bound
// (catching up a far-behind learner one small message at a time may take
// longer than the bound, but it must keep moving).
void Simulation::LivenessProbe() {
  if (done_ || checker_.failed()) return;
  const uint64_t bound = static_cast<uint64_t>(liveness_ticks_) * kTickUnits;
  SimNode* leader = Leader();
  if (leader != nullptr) leader_seen_ = true;
  if (probe_index_ == 0) {
    if (now_ > heal_time_ + bound) {
      checker_.FailLiveness(
          absl::StrCat(leader_seen_ ? "no proposal committed" : "no leader emerged", " within ",
                       liveness_ticks_, " ticks after healing"));
      return;
    }
    if (leader != nullptr && now_ >= next_probe_) {
      const uint64_t value = next_value_++;
      probes_.insert(value);
      Trace(absl::StrCat("liveness probe v", value, " at leader n", leader->id()));
      leader->Propose(EncodeValue(value, 0), [](absl::Status) {});
      next_probe_ = now_ + 2 * node_options_.config.election_tick * kTickUnits;
    }
    last_progress_ = now_;
  } else {
    // Membership as of the most advanced replica.
    const SimNode* ahead = nullptr;
    for (const auto& [id, node] : nodes_) {
      if (!Up(id)) continue;
      if (ahead == nullptr || node->state_machine().applied() > ahead->state_machine().applied()) {
        ahead = node.get();
      }
    }
    std::vector<NodeId> members;
    if (ahead != nullptr) {
      const ConfState& cs = ahead->state_machine().conf_state();
      members.assign(cs.voters().begin(), cs.voters().end());
      members.insert(members.end(), cs.learners().begin(), cs.learners().end());
    }
    bool caught_up = !members.empty();
    uint64_t progress = 0;
    NodeId behind = raft::kNoNode;
    for (NodeId id : members) {
      if (!Up(id)) {
        caught_up = false;
        behind = id;
        continue;
      }
      const LogIndex applied = nodes_[id]->state_machine().applied();
      progress += applied;
      if (applied < probe_index_) {
        caught_up = false;
        behind = id;
      }
    }
    if (caught_up) {
      stats_.recovery_ticks = (now_ - heal_time_) / kTickUnits;
      Trace(
          absl::StrCat("recovered: members {", absl::StrJoin(members, ","), "} applied the probe"));
      FinalCheck(members);
      done_ = true;
      return;
    }
    if (progress > members_progress_) {
      members_progress_ = progress;
      last_progress_ = now_;
    } else if (now_ > last_progress_ + bound) {
      checker_.FailLiveness(absl::StrCat("members stalled for ", liveness_ticks_,
                                         " ticks before catching up to index ", probe_index_, " (n",
                                         behind, Up(behind) ? " is behind)" : " is down)"));
      return;
    }
  }
  After(kTickUnits, [this] { LivenessProbe(); });
}

void Simulation::FinalCheck(const std::vector<NodeId>& members) {
  for (NodeId id : members) {
    const ListStateMachine& sm = nodes_[id]->state_machine();
    for (const ListStateMachine::Value& w : acked_) {
      if (w.index <= sm.applied() && !sm.Contains(w.index, w.id)) {
        checker_.Fail(absl::StrCat("acknowledged write v", w.id, " at index ", w.index,
                                   " missing from the state of n", id));
        return;
      }
    }
  }
}

SimResult Simulation::Run() {
  ChooseScenario();
  const NodeId n = static_cast<NodeId>(options_.nodes);
  // Bootstrap: every initial replica starts from the same snapshot at index
  // 1 holding the initial membership, so a replica added later learns the
  // membership from a snapshot, never from a log it cannot see.
  raft::Snapshot boot;
  {
    ListStateMachine sm;
    Entry first;
    first.set_index(1);
    first.set_term(1);
    sm.Apply(first);
    boot.set_data(sm.Serialize());
    boot.mutable_metadata()->set_index(1);
    boot.mutable_metadata()->set_term(1);
    for (NodeId id = 1; id <= n; ++id)
      boot.mutable_metadata()->mutable_conf_state()->add_voters(id);
  }
  raft::HardState boot_hs;
  boot_hs.set_term(1);
  boot_hs.set_commit(1);
  for (NodeId id = 1; id <= n; ++id) {
    SimNode* node = AddNode(id);
    if (absl::Status s = disks_[id]->ApplySnapshot(boot); !s.ok()) {
      checker_.Fail(absl::StrCat("bootstrap: ", s.ToString()));
    }
    disks_[id]->SetHardState(boot_hs);
    disks_[id]->Sync();
    StartNode(node);
  }
  next_id_ = n + 1;
  for (size_t c = 0; c < clients_.size(); ++c) {
    After(Rand(0, 5 * kTickUnits), [this, c] { ClientNext(static_cast<int>(c)); });
  }
  After(Rand(5, 20) * kTickUnits, [this] { Nemesis(); });
  if (operator_interval_ > 0) {
    After(Rand(1, operator_interval_) * kTickUnits, [this] { Operator(); });
  }
  At(static_cast<uint64_t>(options_.steps) * kTickUnits, [this] { Heal(); });

  while (!events_.empty() && !done_ && !checker_.failed()) {
    auto it = events_.begin();
    now_ = it->first.first;
    std::function<void()> fn = std::move(it->second);
    events_.erase(it);
    fn();
    ++stats_.events;
  }
  if (!done_ && !checker_.failed()) checker_.FailLiveness("the simulation ran out of events");

  stats_.leaders = checker_.leaders_elected();
  stats_.final_index = checker_.max_committed();
  SimResult result;
  result.ok = !checker_.failed();
  result.failure = checker_.failure();
  result.liveness_failure = checker_.liveness_failure();
  result.stats = stats_;
  Trace(result.ok ? "result: ok" : absl::StrCat("result: FAIL ", result.failure));
  return result;
}

}  // namespace

SimResult RunSimulation(const SimOptions& options, std::ostream* trace) {
  Simulation sim(options, trace);
  return sim.Run();
}

}  // namespace synod::sim
