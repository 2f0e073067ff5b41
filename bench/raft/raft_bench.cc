// raft_bench: how fast the Raft core alone commits entries.
//
// Three RawNode cores in one thread, over MemoryLogStorage, with messages
// handed straight from one core to the next: no disk, no network, no
// serialization, so the figures are the protocol's own cost (log, progress
// tracking, quorum, Ready/Advance). Each round proposes a batch of 256-byte
// entries at the leader and drives the cluster until the leader has applied
// them all; the leader's driver snapshots and compacts every node's log as it
// goes so memory stays flat.
//
// Counters: entries_per_s (entries committed per CPU second) and
// cpu_ns_per_entry (process CPU time per committed entry, all three cores
// included). The argument is the batch: proposals per round.
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "raft/memory_log_storage.h"
#include "raft/raw_node.h"

namespace synod::raft {
namespace {

constexpr int kNodes = 3;
constexpr size_t kEntryBytes = 256;
constexpr LogIndex kCompactEvery = 8192;

void Check(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::cerr << what << ": " << s << "\n";
  std::abort();
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The cluster: cores, their storages, and the messages between them.
class Cluster {
 public:
  Cluster() {
    ConfState cs;
    for (NodeId id = 1; id <= kNodes; ++id) cs.add_voters(id);
    for (NodeId id = 1; id <= kNodes; ++id) {
      Node& n = nodes_[id - 1];
      n.storage = std::make_unique<MemoryLogStorage>();
      Check(n.storage->Bootstrap(cs), "bootstrap");
      Config c;
      c.id = id;
      c.storage = n.storage.get();
      c.applied = 1;
      c.seed = id;
      absl::StatusOr<std::unique_ptr<RawNode>> core = RawNode::Create(c);
      Check(core.status(), "create");
      n.core = *std::move(core);
    }
    Check(nodes_[0].core->Campaign(), "campaign");
    while (Pump()) {
    }
    if (nodes_[0].core->GetStatus().soft_state.role != Role::kLeader) {
      std::cerr << "node 1 did not become leader\n";
      std::abort();
    }
  }

  // Proposes `batch` entries at the leader and runs until it applied them.
  void Round(int batch, const std::string& payload) {
    Node& l = nodes_[0];
    for (int k = 0; k < batch; ++k) Check(l.core->Propose(payload), "propose");
    const uint64_t target = l.applied + batch;
    while (l.applied < target) {
      if (!Pump()) {
        std::cerr << "cluster stalled at applied " << l.applied << " < " << target << "\n";
        std::abort();
      }
    }
  }

  uint64_t leader_applied() const { return nodes_[0].applied; }

 private:
  struct Node {
    std::unique_ptr<MemoryLogStorage> storage;
    std::unique_ptr<RawNode> core;
    uint64_t applied = 1;
    uint64_t snapshot = 1;  // index of the latest snapshot
  };

  // One pass: every core handles its Ready, then every message is delivered.
  // Returns whether anything happened.
  bool Pump() {
    bool progress = false;
    for (Node& n : nodes_) {
      while (n.core->HasReady()) {
        progress = true;
        Ready rd = n.core->GetReady();
        for (Message& m : rd.messages) inflight_.push_back(std::move(m));
        if (rd.snapshot) Check(n.storage->ApplySnapshot(*rd.snapshot), "apply snapshot");
        if (!rd.entries.empty()) Check(n.storage->Append(std::move(rd.entries)), "append");
        if (rd.hard_state) n.storage->SetHardState(*rd.hard_state);
        for (Message& m : rd.persisted_messages) inflight_.push_back(std::move(m));
        if (!rd.committed_entries.empty()) {
          n.applied = rd.committed_entries.back().index();
          benchmark::DoNotOptimize(rd.committed_entries.back().data().data());
        }
        n.core->Advance(rd);
        MaybeCompact(n);
      }
    }
    while (!inflight_.empty()) {
      progress = true;
      Message m = std::move(inflight_.front());
      inflight_.pop_front();
      const NodeId to = m.to();
      nodes_[to - 1].core->Step(std::move(m)).IgnoreError();  // stale messages are refused
    }
    return progress;
  }

  void MaybeCompact(Node& n) {
    if (n.applied < n.snapshot + kCompactEvery) return;
    absl::StatusOr<Snapshot> s =
        n.storage->CreateSnapshot(n.applied, n.core->GetStatus().conf_state, "");
    Check(s.status(), "snapshot");
    Check(n.storage->Compact(n.applied), "compact");
    n.snapshot = n.applied;
  }

  Node nodes_[kNodes];
  std::deque<Message> inflight_;
};

void BM_Commit256B(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const std::string payload(kEntryBytes, 'x');
  Cluster cluster;
  const uint64_t start = cluster.leader_applied();
  const double cpu0 = CpuSeconds();
  for (auto _ : state) cluster.Round(batch, payload);
  const double cpu = CpuSeconds() - cpu0;
  const double entries = static_cast<double>(cluster.leader_applied() - start);
  // Rates are per second of the benchmark thread's CPU time, which is the
  // whole cost (one thread, no I/O) and does not depend on machine load.
  state.counters["entries_per_s"] = benchmark::Counter(entries, benchmark::Counter::kIsRate);
  state.counters["cpu_ns_per_entry"] = cpu * 1e9 / entries;
  state.SetBytesProcessed(static_cast<int64_t>(entries) * kEntryBytes);
}
BENCHMARK(BM_Commit256B)->Arg(1)->Arg(16)->Arg(64)->Arg(256)->Arg(1024);

}  // namespace
}  // namespace synod::raft

BENCHMARK_MAIN();
