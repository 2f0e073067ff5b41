// Clients and what the replicas report back: acknowledgements checked for
// linearizability, membership changes, leader commits.
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

}  // namespace synod::sim
