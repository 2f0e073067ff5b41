#include "tests/sim/simulation.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/sim/world.h"

namespace synod::sim {

using raft::ConfChange;
using raft::ConfState;
using raft::Entry;
using raft::LogIndex;
using raft::Message;
using raft::NodeId;

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
  max_members_ = n + 3;
  max_id_ = n + 30;
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
  if (options_.forge_messages) {
    recent_.push_back(m);
    if (recent_.size() > 64) recent_.pop_front();
  }
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
  if (options_.forge_messages) After(Rand(5, 20) * kTickUnits, [this] { Forge(); });
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

SimResult RunSimulation(const SimOptions& options, std::ostream* trace) {
  Simulation sim(options, trace);
  return sim.Run();
}

}  // namespace synod::sim
