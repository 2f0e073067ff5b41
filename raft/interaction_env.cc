#include "raft/interaction_env.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/check.h"
#include "raft/describe.h"

namespace synod::raft {

std::string InteractionEnv::Handle(const datadriven::TestData& d) {
  out_.clear();
  const std::string& c = d.cmd;
  if (c == "add-nodes") {
    HandleAddNodes(d);
  } else if (c == "campaign") {
    HandleCampaign(d);
  } else if (c == "propose") {
    HandlePropose(d);
  } else if (c == "conf-change") {
    HandleConfChange(d);
  } else if (c == "process-ready") {
    HandleProcessReady(d);
  } else if (c == "deliver-msgs") {
    HandleDeliverMsgs(d);
  } else if (c == "drop-msgs") {
    HandleDropMsgs(d);
  } else if (c == "stabilize") {
    HandleStabilize(d);
  } else if (c == "tick-election" || c == "tick-heartbeat" || c == "tick") {
    HandleTick(d, c);
  } else if (c == "partition") {
    HandlePartition(d);
  } else if (c == "cut") {
    HandleCut(d);
  } else if (c == "heal") {
    HandleHeal(d);
  } else if (c == "read-index") {
    HandleReadIndex(d);
  } else if (c == "transfer-leader") {
    HandleTransferLeader(d);
  } else if (c == "status") {
    HandleStatus(d);
  } else if (c == "log") {
    HandleLog(d);
  } else if (c == "state") {
    HandleState(d);
  } else if (c == "compact") {
    HandleCompact(d);
  } else if (c == "report-unreachable") {
    HandleReportUnreachable(d);
  } else if (c == "restart") {
    HandleRestart(d);
  } else if (c == "step") {
    HandleStep(d);
  } else {
    Out("unknown command: " + c);
  }
  return out_.empty() ? "ok\n" : out_;
}

InteractionEnv::Node& InteractionEnv::GetNode(NodeId id) {
  SYNOD_CHECK(Exists(id)) << "no node " << id;
  return nodes_[id - 1];
}

void InteractionEnv::AddNode(const ConfState* bootstrap, const Config& base) {
  Node n;
  n.config = base;
  n.config.id = nodes_.size() + 1;
  n.storage = std::make_unique<MemoryLogStorage>();
  if (bootstrap != nullptr) SYNOD_CHECK_OK(n.storage->Bootstrap(*bootstrap));
  n.config.storage = n.storage.get();
  n.applied = n.storage->FirstIndex() - 1;
  n.config.applied = n.applied;
  absl::StatusOr<std::unique_ptr<RawNode>> raw = RawNode::Create(n.config);
  SYNOD_CHECK_OK(raw.status());
  n.raw = std::move(*raw);
  nodes_.push_back(std::move(n));
}

void InteractionEnv::RestartNode(NodeId id) {
  // A crash: whatever was not persisted (the unprocessed Ready, the state
  // machine) is gone. The state machine is rebuilt from the snapshot and
  // the committed log, as a volatile state machine would be.
  Node& n = GetNode(id);
  n.raw.reset();
  absl::StatusOr<Snapshot> snap = n.storage->GetSnapshot();
  SYNOD_CHECK_OK(snap.status());
  n.storage->SetConfState(snap->metadata().conf_state());
  n.state = snap->data();
  n.applied = snap->metadata().index();
  n.config.applied = n.applied;
  absl::StatusOr<std::unique_ptr<RawNode>> raw = RawNode::Create(n.config);
  SYNOD_CHECK_OK(raw.status());
  n.raw = std::move(*raw);
}

bool InteractionEnv::ProcessReady(NodeId id, const std::string& indent) {
  Node& n = GetNode(id);
  if (!n.raw->HasReady()) return false;
  Ready rd = n.raw->GetReady();
  Out(absl::StrCat(indent, "Ready ", rd.number, ":"));
  out_ += DescribeReady(rd, indent + "  ");
  // Persist: snapshot, entries, hard state (one "synced batch").
  if (rd.snapshot) {
    SYNOD_CHECK_OK(n.storage->ApplySnapshot(*rd.snapshot));
    n.state = rd.snapshot->data();
    n.applied = rd.snapshot->metadata().index();
  }
  SYNOD_CHECK_OK(n.storage->Append(std::move(rd.entries)));
  if (rd.hard_state) n.storage->SetHardState(*rd.hard_state);
  for (Message& m : rd.messages) network_.push_back(std::move(m));
  for (Message& m : rd.persisted_messages) network_.push_back(std::move(m));
  // Apply.
  for (const Entry& e : rd.committed_entries) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
      ConfChange cc;
      SYNOD_CHECK(cc.ParseFromString(e.data()));
      ConfState cs = n.raw->ApplyConfChange(cc);
      n.storage->SetConfState(cs);
      Out(absl::StrCat(indent, "  applied ", DescribeConfChange(cc), ": ", DescribeConfState(cs)));
    } else if (!e.data().empty()) {
      if (!n.state.empty()) n.state += ",";
      n.state += e.data();
    }
    n.applied = e.index();
  }
  n.raw->Advance(rd);
  return true;
}

bool InteractionEnv::Deliverable(const Message& m) const {
  return cut_.count({m.from(), m.to()}) == 0;
}

bool InteractionEnv::DeliverMsgs(NodeId id, const std::string& indent) {
  std::vector<Message> mine;
  std::vector<Message> rest;
  for (Message& m : network_) {
    (m.to() == id ? mine : rest).push_back(std::move(m));
  }
  network_ = std::move(rest);
  if (mine.empty()) return false;
  for (Message& m : mine) {
    const std::string desc = DescribeMessage(m);
    const bool snap = m.type() == raftpb::MSG_SNAP;
    const NodeId from = m.from();
    if (!Deliverable(m) || !Exists(id)) {
      Out(absl::StrCat(indent, desc, " DROPPED"));
      // The sender's driver learns that the snapshot did not arrive.
      if (snap && Exists(from)) {
        GetNode(from).raw->ReportSnapshot(id, false);
        Out(absl::StrCat(indent, "  ", from, " reports snapshot to ", id, " failed"));
      }
      continue;
    }
    Out(absl::StrCat(indent, desc));
    absl::Status s = GetNode(id).raw->Step(std::move(m));
    if (!s.ok()) Out(absl::StrCat(indent, "  ", s.ToString()));
    // The sender's driver reports a snapshot sent in full.
    if (snap && Exists(from)) {
      GetNode(from).raw->ReportSnapshot(id, true);
      Out(absl::StrCat(indent, "  ", from, " reports snapshot to ", id, " sent"));
    }
  }
  return true;
}

void InteractionEnv::Stabilize(const std::vector<NodeId>& ids) {
  for (;;) {
    bool busy = false;
    for (NodeId id : ids) {
      if (GetNode(id).raw->HasReady()) {
        Out(absl::StrCat("> ", id, " handling Ready"));
        ProcessReady(id, "  ");
        busy = true;
      }
    }
    for (NodeId id : ids) {
      bool has = false;
      for (const Message& m : network_) has = has || m.to() == id;
      if (has) {
        Out(absl::StrCat("> ", id, " receiving messages"));
        DeliverMsgs(id, "  ");
        busy = true;
      }
    }
    if (!busy) return;
  }
}

std::string InteractionEnv::StatusString(NodeId id) {
  const raft::Status st = GetNode(id).raw->GetStatus();
  std::string out = absl::StrCat(
      id, ": ", RoleName(st.soft_state.role), " term=", st.hard_state.term(),
      " lead=", st.soft_state.leader, " vote=", st.hard_state.vote(), " commit=", st.committed,
      " applied=", st.applied, " last=", st.last_index, " ", DescribeConfState(st.conf_state));
  if (st.lead_transferee != kNoNode) absl::StrAppend(&out, " transferee=", st.lead_transferee);
  for (const ProgressStatus& p : st.progress) {
    const char* state = p.state == ProgressStatus::State::kProbe       ? "StateProbe"
                        : p.state == ProgressStatus::State::kReplicate ? "StateReplicate"
                                                                       : "StateSnapshot";
    absl::StrAppend(&out, "\n  ", p.id, ": ", state, " match=", p.match, " next=", p.next,
                    p.learner ? " learner" : "");
  }
  return out;
}

}  // namespace synod::raft
