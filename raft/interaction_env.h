// InteractionEnv: drives several RawNodes over MemoryLogStorage through a
// scripted, fully controlled network, for the datadriven tests in
// raft/testdata/. Every step is explicit (process a Ready, deliver
// messages, tick), so a script pins down the exact protocol exchange of one
// rule.
//
// The env plays the driver as raft/ready.h prescribes: it persists a
// Ready's snapshot, entries and hard state, queues its messages, applies
// committed entries (calling ApplyConfChange for membership entries),
// records read states, then calls Advance. A node's "state" is the
// applied normal entries' data joined with ','.
//
// Thread: single-threaded (one test).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/config.h"
#include "raft/memory_log_storage.h"
#include "raft/raw_node.h"
#include "raft/types.h"
#include "tests/datadriven/datadriven.h"

namespace synod::raft {

class InteractionEnv {
 public:
  // Runs one script command and returns its output.
  std::string Handle(const datadriven::TestData& d);

 private:
  struct Node {
    Config config;
    std::unique_ptr<MemoryLogStorage> storage;
    std::unique_ptr<RawNode> raw;
    std::string state;  // applied data, ','-joined
    LogIndex applied = 0;
  };

  // interaction_env.cc: the driver and the network.
  Node& GetNode(NodeId id);
  bool Exists(NodeId id) const { return id >= 1 && id <= nodes_.size(); }
  void AddNode(const ConfState* bootstrap, const Config& base);
  void RestartNode(NodeId id);
  // Handles one Ready of `id` (if any). Returns false if there was none.
  bool ProcessReady(NodeId id, const std::string& indent);
  // Delivers the queued messages addressed to `id`, in order.
  bool DeliverMsgs(NodeId id, const std::string& indent);
  bool Deliverable(const Message& m) const;
  void Stabilize(const std::vector<NodeId>& ids);
  void Out(const std::string& line) { out_ += line + "\n"; }
  std::string StatusString(NodeId id);

  // interaction_env_handlers.cc: one per command.
  void HandleAddNodes(const datadriven::TestData& d);
  void HandleCampaign(const datadriven::TestData& d);
  void HandlePropose(const datadriven::TestData& d);
  void HandleConfChange(const datadriven::TestData& d);
  void HandleProcessReady(const datadriven::TestData& d);
  void HandleDeliverMsgs(const datadriven::TestData& d);
  void HandleDropMsgs(const datadriven::TestData& d);
  void HandleStabilize(const datadriven::TestData& d);
  void HandleTick(const datadriven::TestData& d, const std::string& kind);
  void HandlePartition(const datadriven::TestData& d);
  void HandleCut(const datadriven::TestData& d);
  void HandleHeal(const datadriven::TestData& d);
  void HandleReadIndex(const datadriven::TestData& d);
  void HandleTransferLeader(const datadriven::TestData& d);
  void HandleStatus(const datadriven::TestData& d);
  void HandleLog(const datadriven::TestData& d);
  void HandleState(const datadriven::TestData& d);
  void HandleCompact(const datadriven::TestData& d);
  void HandleReportUnreachable(const datadriven::TestData& d);
  void HandleRestart(const datadriven::TestData& d);
  void HandleStep(const datadriven::TestData& d);

  std::vector<Node> nodes_;                  // nodes_[id - 1]
  std::vector<Message> network_;             // sent, not yet delivered, in send order
  std::set<std::pair<NodeId, NodeId>> cut_;  // (from, to) links that drop
  std::string out_;
};

}  // namespace synod::raft
