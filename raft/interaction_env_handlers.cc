// InteractionEnv's script commands. Node ids are positional arguments;
// options are key=value.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/check.h"
#include "raft/describe.h"
#include "raft/interaction_env.h"

namespace synod::raft {
namespace {

uint64_t ToUint(const std::string& s) {
  uint64_t v = 0;
  SYNOD_CHECK(absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &v)) << "not a number: " << s;
  return v;
}

// The positional numeric arguments (node ids), in order.
std::vector<NodeId> Ids(const datadriven::TestData& d) {
  std::vector<NodeId> ids;
  for (const datadriven::CmdArg& a : d.args) {
    uint64_t v = 0;
    if (a.vals.empty() && absl::SimpleAtoi(absl::string_view(a.key.data(), a.key.size()), &v)) {
      ids.push_back(v);
    }
  }
  return ids;
}

// The positional arguments as written (ids and words).
std::vector<std::string> Positional(const datadriven::TestData& d) {
  std::vector<std::string> out;
  for (const datadriven::CmdArg& a : d.args) {
    if (a.vals.empty()) out.push_back(a.key);
  }
  return out;
}

bool BoolArg(const datadriven::TestData& d, const std::string& key, bool def) {
  const datadriven::CmdArg* a = d.Arg(key);
  if (a == nullptr || a->vals.empty()) return def;
  return a->vals[0] == "true";
}

}  // namespace

void InteractionEnv::HandleAddNodes(const datadriven::TestData& d) {
  const std::vector<NodeId> ids = Ids(d);
  SYNOD_CHECK(!ids.empty()) << d.pos << ": add-nodes N";
  Config base;
  // Scripts are shorter without pre-vote and check-quorum; the scripts
  // about those rules turn them on.
  base.pre_vote = BoolArg(d, "prevote", false);
  base.check_quorum = BoolArg(d, "checkquorum", false);
  if (const datadriven::CmdArg* a = d.Arg("max-inflight")) {
    base.max_inflight_msgs = static_cast<int>(ToUint(a->vals.at(0)));
  }
  if (const datadriven::CmdArg* a = d.Arg("max-size")) {
    base.max_size_per_msg = ToUint(a->vals.at(0));
  }
  if (const datadriven::CmdArg* a = d.Arg("election-tick")) {
    base.election_tick = static_cast<int>(ToUint(a->vals.at(0)));
  }
  ConfState cs;
  const datadriven::CmdArg* voters = d.Arg("voters");
  if (voters != nullptr) {
    for (const std::string& v : voters->vals) cs.add_voters(ToUint(v));
  }
  if (const datadriven::CmdArg* l = d.Arg("learners")) {
    for (const std::string& v : l->vals) cs.add_learners(ToUint(v));
  }
  for (uint64_t i = 0; i < ids[0]; ++i) {
    AddNode(voters != nullptr ? &cs : nullptr, base);
    Out(StatusString(nodes_.size()));
  }
}

void InteractionEnv::HandleCampaign(const datadriven::TestData& d) {
  for (NodeId id : Ids(d)) {
    absl::Status s = GetNode(id).raw->Campaign();
    if (!s.ok()) Out(s.ToString());
  }
}

void InteractionEnv::HandlePropose(const datadriven::TestData& d) {
  const std::vector<std::string> pos = Positional(d);
  SYNOD_CHECK(pos.size() == 2) << d.pos << ": propose ID data";
  absl::Status s = GetNode(ToUint(pos[0])).raw->Propose(pos[1]);
  if (!s.ok()) Out(s.ToString());
}

void InteractionEnv::HandleConfChange(const datadriven::TestData& d) {
  const std::vector<std::string> pos = Positional(d);
  SYNOD_CHECK(pos.size() == 3) << d.pos
                               << ": conf-change ID add-learner|add-voter|promote|remove N";
  ConfChange cc;
  if (pos[1] == "add-learner") {
    cc.set_type(ConfChange::ADD_LEARNER);
  } else if (pos[1] == "add-voter") {
    cc.set_type(ConfChange::ADD_VOTER);
  } else if (pos[1] == "promote") {
    cc.set_type(ConfChange::PROMOTE_LEARNER);
  } else if (pos[1] == "remove") {
    cc.set_type(ConfChange::REMOVE_NODE);
  } else {
    Out("unknown change " + pos[1]);
    return;
  }
  cc.set_node_id(ToUint(pos[2]));
  absl::Status s = GetNode(ToUint(pos[0])).raw->ProposeConfChange(cc);
  if (!s.ok()) Out(s.ToString());
}

void InteractionEnv::HandleProcessReady(const datadriven::TestData& d) {
  std::vector<NodeId> ids = Ids(d);
  if (ids.empty()) {
    for (NodeId id = 1; id <= nodes_.size(); ++id) ids.push_back(id);
  }
  for (NodeId id : ids) {
    if (ids.size() > 1) Out(absl::StrCat("> ", id, " handling Ready"));
    if (!ProcessReady(id, ids.size() > 1 ? "  " : "")) {
      Out(absl::StrCat(ids.size() > 1 ? "  " : "", "<no Ready>"));
    }
  }
}

void InteractionEnv::HandleDeliverMsgs(const datadriven::TestData& d) {
  std::vector<NodeId> ids = Ids(d);
  if (ids.empty()) {
    for (NodeId id = 1; id <= nodes_.size(); ++id) ids.push_back(id);
  }
  for (NodeId id : ids) DeliverMsgs(id, "");
  if (out_.empty()) Out("no messages");
}

void InteractionEnv::HandleDropMsgs(const datadriven::TestData& d) {
  const datadriven::CmdArg* from = d.Arg("from");
  const datadriven::CmdArg* to = d.Arg("to");
  const datadriven::CmdArg* type = d.Arg("type");
  std::vector<Message> kept;
  for (Message& m : network_) {
    const bool match = (from == nullptr || m.from() == ToUint(from->vals.at(0))) &&
                       (to == nullptr || m.to() == ToUint(to->vals.at(0))) &&
                       (type == nullptr || type->vals.at(0) == MessageTypeName(m.type()));
    if (match) {
      Out(absl::StrCat("dropped: ", DescribeMessage(m)));
    } else {
      kept.push_back(std::move(m));
    }
  }
  network_ = std::move(kept);
}

void InteractionEnv::HandleStabilize(const datadriven::TestData& d) {
  std::vector<NodeId> ids = Ids(d);
  if (ids.empty()) {
    for (NodeId id = 1; id <= nodes_.size(); ++id) ids.push_back(id);
  }
  Stabilize(ids);
}

void InteractionEnv::HandleTick(const datadriven::TestData& d, const std::string& kind) {
  const std::vector<NodeId> ids = Ids(d);
  SYNOD_CHECK(!ids.empty()) << d.pos << ": " << kind << " ID";
  for (NodeId id : ids) {
    Node& n = GetNode(id);
    int ticks = 1;
    if (kind == "tick-heartbeat") {
      ticks = n.config.heartbeat_tick;
    } else if (kind == "tick-election") {
      // Until the election timer fires: the randomized timeout for a
      // follower or candidate, the plain election timeout for a leader.
      const raft::Status st = n.raw->GetStatus();
      const int timeout = st.soft_state.role == Role::kLeader ? n.config.election_tick
                                                              : st.randomized_election_timeout;
      ticks = std::max(1, timeout - st.election_elapsed);
    } else if (const datadriven::CmdArg* a = d.Arg("n")) {
      ticks = static_cast<int>(ToUint(a->vals.at(0)));
    }
    for (int i = 0; i < ticks; ++i) n.raw->Tick();
  }
}

void InteractionEnv::HandlePartition(const datadriven::TestData& d) {
  // The listed nodes on one side, every other node on the other.
  const std::vector<NodeId> side = Ids(d);
  auto in = [&](NodeId id) { return std::find(side.begin(), side.end(), id) != side.end(); };
  for (NodeId a = 1; a <= nodes_.size(); ++a) {
    for (NodeId b = 1; b <= nodes_.size(); ++b) {
      if (in(a) != in(b)) cut_.insert({a, b});
    }
  }
}

void InteractionEnv::HandleCut(const datadriven::TestData& d) {
  const std::vector<NodeId> ids = Ids(d);
  SYNOD_CHECK(ids.size() == 2) << d.pos << ": cut FROM TO";
  cut_.insert({ids[0], ids[1]});
}

void InteractionEnv::HandleHeal(const datadriven::TestData&) { cut_.clear(); }

void InteractionEnv::HandleReadIndex(const datadriven::TestData& d) {
  const std::vector<std::string> pos = Positional(d);
  SYNOD_CHECK(pos.size() == 2) << d.pos << ": read-index ID context";
  GetNode(ToUint(pos[0])).raw->ReadIndex(pos[1]);
}

void InteractionEnv::HandleTransferLeader(const datadriven::TestData& d) {
  const std::vector<NodeId> ids = Ids(d);
  SYNOD_CHECK(ids.size() == 2) << d.pos << ": transfer-leader ID TRANSFEREE";
  GetNode(ids[0]).raw->TransferLeader(ids[1]);
}

void InteractionEnv::HandleStatus(const datadriven::TestData& d) {
  std::vector<NodeId> ids = Ids(d);
  if (ids.empty()) {
    for (NodeId id = 1; id <= nodes_.size(); ++id) ids.push_back(id);
  }
  for (NodeId id : ids) Out(StatusString(id));
}

void InteractionEnv::HandleLog(const datadriven::TestData& d) {
  for (NodeId id : Ids(d)) {
    const MemoryLogStorage& s = *GetNode(id).storage;
    absl::StatusOr<Snapshot> snap = s.GetSnapshot();
    if (snap.ok() && snap->metadata().index() > 0) {
      Out(absl::StrCat("snapshot ", DescribeSnapshot(*snap)));
    }
    if (s.LastIndex() < s.FirstIndex()) {
      Out("log is empty");
      continue;
    }
    absl::StatusOr<std::vector<Entry>> ents =
        s.Entries(s.FirstIndex(), s.LastIndex() + 1, UINT64_MAX);
    SYNOD_CHECK_OK(ents.status());
    for (const Entry& e : *ents) Out(DescribeEntry(e));
  }
}

void InteractionEnv::HandleState(const datadriven::TestData& d) {
  std::vector<NodeId> ids = Ids(d);
  if (ids.empty()) {
    for (NodeId id = 1; id <= nodes_.size(); ++id) ids.push_back(id);
  }
  for (NodeId id : ids) {
    const Node& n = GetNode(id);
    Out(absl::StrCat(id, ": applied=", n.applied, " state=[", n.state, "]"));
  }
}

void InteractionEnv::HandleCompact(const datadriven::TestData& d) {
  // What a driver does: snapshot the state machine at its applied index,
  // then drop the log up to it.
  for (NodeId id : Ids(d)) {
    Node& n = GetNode(id);
    absl::StatusOr<Snapshot> snap =
        n.storage->CreateSnapshot(n.applied, n.raw->GetStatus().conf_state, n.state);
    if (!snap.ok()) {
      Out(snap.status().ToString());
      continue;
    }
    SYNOD_CHECK_OK(n.storage->Compact(n.applied));
    Out(absl::StrCat(id, ": snapshot ", DescribeSnapshot(*snap), ", log starts at ",
                     n.storage->FirstIndex()));
  }
}

void InteractionEnv::HandleReportUnreachable(const datadriven::TestData& d) {
  const std::vector<NodeId> ids = Ids(d);
  SYNOD_CHECK(ids.size() == 2) << d.pos << ": report-unreachable ID PEER";
  GetNode(ids[0]).raw->ReportUnreachable(ids[1]);
}

// step ID type=MSG_X|N from=F [to=T] [term=N] [index=N] [commit=N]
// [reject=true] [context=C]: steps a message written by hand (as an
// untrusted peer could send it) into ID through RawNode::Step and prints
// the outcome. `to` defaults to ID; a numeric type may be one no version
// knows.
void InteractionEnv::HandleStep(const datadriven::TestData& d) {
  const std::vector<NodeId> ids = Ids(d);
  const datadriven::CmdArg* type = d.Arg("type");
  SYNOD_CHECK(ids.size() == 1 && type != nullptr && !type->vals.empty())
      << d.pos << ": step ID type=MSG_X from=F ...";
  Message m;
  MessageType t = raftpb::MSG_UNKNOWN;
  if (raftpb::MessageType_Parse(type->vals[0], &t)) {
    m.set_type(t);
  } else {
    m.set_type(static_cast<MessageType>(ToUint(type->vals[0])));
  }
  auto num = [&](const std::string& key, uint64_t def) {
    const datadriven::CmdArg* a = d.Arg(key);
    return a == nullptr || a->vals.empty() ? def : ToUint(a->vals[0]);
  };
  m.set_from(num("from", kNoNode));
  m.set_to(num("to", ids[0]));
  m.set_term(num("term", 0));
  m.set_index(num("index", 0));
  m.set_commit(num("commit", 0));
  m.set_reject(BoolArg(d, "reject", false));
  if (const datadriven::CmdArg* c = d.Arg("context"); c != nullptr && !c->vals.empty()) {
    m.set_context(c->vals[0]);
  }
  const absl::Status s = GetNode(ids[0]).raw->Step(std::move(m));
  Out(s.ok() ? "ok" : s.ToString());
}

void InteractionEnv::HandleRestart(const datadriven::TestData& d) {
  for (NodeId id : Ids(d)) {
    RestartNode(id);
    Out(StatusString(id));
  }
}

}  // namespace synod::raft
