// The nemesis (random faults) and the operator (membership changes and
// leadership transfers at a steady rate).
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
  // Ids are never reused; members stay few and ids many, so a long history
  // keeps changing its membership.
  const bool can_add = voters.size() + learners.size() < max_members_ && next_id_ <= max_id_;
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

}  // namespace synod::sim
