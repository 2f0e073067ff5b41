// The forger (SimOptions::forge_messages): an impostor on the simulated
// network that steps into live replicas messages no honest member sends.
// Half are mutations of recent real messages (numbers nudged: terms,
// indexes, commit, reject), half random; each is then made into one kind a
// replica must refuse: a type only a node's own driver reports, an unknown
// type, this replica or nobody as the sender, another node as the
// receiver, a term on a forwarded request or none on another message, an
// answer from a node that is no member. A forged message that
// RawNode::Step takes, or a refused one that changed the core (SimNode
// checks), fails the history; the safety checks run as ever.
//
// Messages that honest members could send are not forged: Raft does not
// survive a member that lies (a forged vote or append from a real member
// breaks it by design); that is what the links' identity checks are for.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/sim/world.h"

namespace synod::sim {

using raft::Message;
using raft::MessageType;
using raft::NodeId;

namespace {

// Ids from here on never join: the simulation's ids stay below max_id_.
constexpr NodeId kFirstStranger = 1000;

}  // namespace

void Simulation::Forge() {
  if (!faulty_ || done_ || checker_.failed()) return;
  const std::vector<NodeId> up = UpNodes();
  if (!up.empty()) {
    const NodeId to = PickNode(up);
    Message m = ForgeBase(to);
    std::string kind;
    switch (Rand(0, 6)) {
      case 0:
        m.set_type(Pick({raftpb::MSG_UNREACHABLE, raftpb::MSG_SNAP_STATUS}));
        kind = "a type only the local driver reports";
        break;
      case 1:
        m.set_type(static_cast<MessageType>(Chance(0.3) ? 0 : Rand(17, 300)));
        kind = "an unknown type";
        break;
      case 2:
        // A forwarded request names its originator, who may be the
        // receiver (raft::IsForwardedRequest).
        if (raft::IsForwardedRequest(m.type())) m.set_type(raftpb::MSG_HEARTBEAT);
        m.set_from(to);
        kind = "the receiver as its sender";
        break;
      case 3:
        m.set_from(raft::kNoNode);
        kind = "no sender";
        break;
      case 4: {
        NodeId other = Rand(0, max_id_);
        if (other == to) other = kFirstStranger;
        m.set_to(other);
        kind = "another receiver";
        break;
      }
      case 5:
        if (raft::IsForwardedRequest(m.type())) {
          m.set_term(Rand(1, 1 + nodes_[to]->term()));
        } else {
          m.set_term(0);
        }
        kind = "a term on a forwarded request, or none on another message";
        break;
      default:
        m.set_type(Pick({raftpb::MSG_APP_RESP, raftpb::MSG_HEARTBEAT_RESP, raftpb::MSG_VOTE_RESP,
                         raftpb::MSG_PRE_VOTE_RESP, raftpb::MSG_READ_INDEX_RESP}));
        m.set_from(kFirstStranger + Rand(0, 99));
        kind = "an answer from a node that is no member";
        break;
    }
    ++stats_.forged;
    const std::string what =
        absl::StrCat("type ", static_cast<int>(m.type()), " ", m.from(), "->", m.to(),
                     " term=", m.term(), " index=", m.index(), " (", kind, ")");
    Trace(absl::StrCat("forger: to n", to, ": ", what));
    nodes_[to]->Deliver(std::move(m), [this, to, what](absl::Status s) {
      if (s.ok()) checker_.Fail(absl::StrCat("n", to, " took a forged message: ", what));
    });
  }
  After(Rand(1, kTickUnits), [this] { Forge(); });
}

Message Simulation::ForgeBase(NodeId to) {
  Message m;
  if (!recent_.empty() && Chance(0.5)) {
    m = recent_[Rand(0, recent_.size() - 1)];
    if (Chance(0.5)) m.set_term(m.term() + Rand(0, 3));
    if (Chance(0.3)) m.set_index(Rand(0, m.index() + 10));
    if (Chance(0.3)) m.set_commit(Rand(0, m.commit() + 10));
    if (Chance(0.3)) m.set_reject(!m.reject());
  } else {
    m.set_type(static_cast<MessageType>(Rand(1, 16)));
    m.set_from(Rand(1, next_id_));
    m.set_term(nodes_[to]->term() + Rand(0, 2));
    m.set_index(Rand(0, 50));
    m.set_log_term(Rand(0, m.term()));
    m.set_commit(Rand(0, 50));
    m.set_reject(Chance(0.5));
    m.set_reject_hint(Rand(0, 50));
    for (uint64_t i = Rand(0, 3); i > 0; --i) {
      raft::Entry* e = m.add_entries();
      e->set_index(m.index() + i);
      e->set_term(m.term());
      e->set_data(EncodeValue(next_value_++, 0));
    }
  }
  m.set_to(to);
  return m;
}

}  // namespace synod::sim
