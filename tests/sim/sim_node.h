// SimNode: one simulated replica: a raft::RawNode, its driver, its state
// machine, and a handle on its disk.
//
// The driver follows raft/ready.h to the letter, as a single-threaded server
// would: for each Ready it sends `messages` at once, writes snapshot, entries
// and hard state to the DurableLog (taking a simulated disk delay, during
// which the replica is blocked: its inputs queue up, or reach the core at
// once if the driver steps while writing), sends
// `persisted_messages`, installs the snapshot, applies committed entries
// (membership changes through ApplyConfChange), hands out read states once
// applied up to their index, and calls Advance. Inputs queued during a write
// reach the core together before the next Ready (group commit). Every few
// applied entries it snapshots its state machine and compacts its log.
//
// It checks the Ready contract on the way (numbering, must_sync, acks sent
// only after persistence, commit/applied monotonic and contiguous) and reports
// each step to the Checker. A crash drops the core, the state machine and all
// queued work; the DurableLog keeps what was synced.
//
// Thread: the simulation's only thread. Host callbacks are made from inside
// the node's processing and must not call back into the node.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/config.h"
#include "raft/raw_node.h"
#include "raft/ready.h"
#include "raft/types.h"
#include "tests/sim/checker.h"
#include "tests/sim/durable_log.h"
#include "tests/sim/state_machine.h"
#include "tests/sim/trace.h"

namespace synod::sim {

class SimNode {
 public:
  // What a replica needs from the simulated world.
  class Host {
   public:
    virtual ~Host() = default;
    virtual uint64_t Now() const = 0;
    // Puts a message on the simulated network.
    virtual void Send(const raft::Message& message) = 0;
    // Time the next disk write of `id` takes (0: completes at once).
    virtual uint64_t DiskDelay(raft::NodeId id) = 0;
    // Calls DiskDone(incarnation) on `id` at time `at`.
    virtual void ScheduleDiskDone(raft::NodeId id, uint64_t incarnation, uint64_t at) = 0;
    // `id` applied `entry` (client acknowledgements).
    virtual void OnApplied(raft::NodeId id, uint64_t incarnation, const raft::Entry& entry) = 0;
    // `id` applied a membership change.
    virtual void OnConfChange(raft::NodeId id, const raft::ConfChange& change,
                              const raft::ConfState& conf_state) = 0;
    // A read requested on `id` with `context` may be served: its read index
    // is `index` and the state machine has applied `applied` >= index.
    virtual void OnRead(raft::NodeId id, uint64_t incarnation, const std::string& context,
                        raft::LogIndex index, raft::LogIndex applied) = 0;
    // Leader `id` advanced its commit index, counting with `conf_state`.
    virtual void OnLeaderCommit(raft::NodeId id, raft::LogIndex commit,
                                const raft::ConfState& conf_state) = 0;
    virtual Checker& checker() = 0;
    virtual Tracer& tracer() = 0;
  };

  // Driver policy, fixed per run.
  struct Options {
    raft::Config config;  // id, storage, applied and seed are set by Start
    // Snapshot the state machine every this many applied entries (0: never).
    uint64_t snapshot_every = 0;
    // Keep this many entries below the snapshot when compacting.
    uint64_t compact_margin = 0;
    // Feed inputs to the core while a Ready's write is in flight (raw_node.h
    // allows Step/Tick/Propose between GetReady and Advance), as a driver
    // that keeps receiving during fsync does; otherwise they wait.
    bool step_while_writing = false;
    // Whether the driver's own snapshot is written with an fsync that also
    // makes the commit index durable; if not, a restart may find the state
    // machine (its snapshot) past the durable commit index.
    bool snapshot_syncs_commit = true;
  };

  SimNode(raft::NodeId id, Host* host, DurableLog* log, Options options);

  // (Re)starts the replica from its durable log only: a new core, the state
  // machine restored from the durable snapshot.
  void Start(uint64_t incarnation, uint64_t seed);
  // Loses everything not durable: core, state machine, queued inputs,
  // pending disk write, pending reads.
  void Crash();

  raft::NodeId id() const { return id_; }
  bool alive() const { return alive_; }
  uint64_t incarnation() const { return incarnation_; }
  raft::Role role() const { return role_; }
  raft::Term term() const { return term_; }
  const ListStateMachine& state_machine() const { return sm_; }
  // The core's status (alive only).
  raft::Status status() const { return core_->GetStatus(); }

  // Inputs: run at once, or queued while a disk write is in flight.
  // `done`, when set, receives Step's status (not if the replica crashes
  // first), and a refused message must have changed nothing in the core.
  void Deliver(raft::Message message, std::function<void(absl::Status)> done = nullptr);
  void Tick();
  // `done` receives Propose's status (never called if the replica crashes
  // first).
  void Propose(std::string data, std::function<void(absl::Status)> done);
  void ProposeConfChange(raft::ConfChange change, std::function<void(absl::Status)> done);
  void ReadIndex(std::string context);
  void TransferLeader(raft::NodeId transferee);
  void ReportSnapshot(raft::NodeId to, bool success);
  void ReportUnreachable(raft::NodeId to);
  // Snapshots and compacts now, whatever the policy says.
  void ForceSnapshot();

  // The disk write started by incarnation `incarnation` completed.
  void DiskDone(uint64_t incarnation);

 private:
  void Input(std::function<void()> fn);
  void RunReady();
  void HandleReady(raft::Ready ready);
  void FinishReady(raft::Ready ready);
  // Contract checks that need the Ready before persistence.
  void CheckReady(const raft::Ready& ready);
  void ApplyEntry(const raft::Entry& entry);
  void ServeReads();
  void MaybeSnapshot(bool force);
  void Fail(const std::string& what) { host_->checker().Fail(what); }
  void Trace(absl::string_view text);

  const raft::NodeId id_;
  Host* const host_;
  DurableLog* const log_;  // not owned; outlives every incarnation
  const Options options_;

  bool alive_ = false;
  uint64_t incarnation_ = 0;
  std::unique_ptr<raft::RawNode> core_;
  ListStateMachine sm_;
  // A Ready whose disk write is in flight; set iff the replica is blocked.
  std::optional<raft::Ready> pending_;
  std::deque<std::function<void()>> inbox_;  // inputs that arrived while blocked
  std::vector<raft::ReadState> reads_;       // waiting for apply
  uint64_t last_ready_ = 0;                  // number of the last Ready
  raft::LogIndex commit_ = 0;                // highest commit seen this incarnation
  raft::Role role_ = raft::Role::kFollower;
  raft::Term term_ = 0;
};

}  // namespace synod::sim
