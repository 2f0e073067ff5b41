#include "raft/describe.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace synod::raft {

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case raftpb::MSG_APP:
      return "MsgApp";
    case raftpb::MSG_APP_RESP:
      return "MsgAppResp";
    case raftpb::MSG_VOTE:
      return "MsgVote";
    case raftpb::MSG_VOTE_RESP:
      return "MsgVoteResp";
    case raftpb::MSG_PRE_VOTE:
      return "MsgPreVote";
    case raftpb::MSG_PRE_VOTE_RESP:
      return "MsgPreVoteResp";
    case raftpb::MSG_HEARTBEAT:
      return "MsgHeartbeat";
    case raftpb::MSG_HEARTBEAT_RESP:
      return "MsgHeartbeatResp";
    case raftpb::MSG_SNAP:
      return "MsgSnap";
    case raftpb::MSG_SNAP_STATUS:
      return "MsgSnapStatus";
    case raftpb::MSG_TIMEOUT_NOW:
      return "MsgTimeoutNow";
    case raftpb::MSG_READ_INDEX:
      return "MsgReadIndex";
    case raftpb::MSG_READ_INDEX_RESP:
      return "MsgReadIndexResp";
    case raftpb::MSG_PROP:
      return "MsgProp";
    case raftpb::MSG_TRANSFER_LEADER:
      return "MsgTransferLeader";
    case raftpb::MSG_UNREACHABLE:
      return "MsgUnreachable";
    default:
      return "MsgUnknown";
  }
}

std::string DescribeConfChange(const ConfChange& change) {
  const char* type = "Unknown";
  switch (change.type()) {
    case ConfChange::ADD_LEARNER:
      type = "AddLearner";
      break;
    case ConfChange::PROMOTE_LEARNER:
      type = "PromoteLearner";
      break;
    case ConfChange::ADD_VOTER:
      type = "AddVoter";
      break;
    case ConfChange::REMOVE_NODE:
      type = "RemoveNode";
      break;
    default:
      break;
  }
  return absl::StrCat(type, " ", change.node_id());
}

std::string DescribeEntry(const Entry& e) {
  std::string out = absl::StrCat(e.term(), "/", e.index());
  if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
    ConfChange cc;
    if (cc.ParseFromString(e.data())) {
      absl::StrAppend(&out, " EntryConfChange ", DescribeConfChange(cc));
    } else {
      absl::StrAppend(&out, " EntryConfChange <unparsable>");
    }
  } else {
    absl::StrAppend(&out, " EntryNormal \"", absl::CHexEscape(e.data()), "\"");
  }
  return out;
}

std::string DescribeEntries(const std::vector<Entry>& entries) {
  std::string out = "[";
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ", ";
    out += DescribeEntry(entries[i]);
  }
  return out + "]";
}

std::string DescribeMessage(const Message& m) {
  std::string out =
      absl::StrCat(m.from(), "->", m.to(), " ", MessageTypeName(m.type()), " Term:", m.term());
  switch (m.type()) {
    case raftpb::MSG_APP:
      absl::StrAppend(&out, " Log:", m.log_term(), "/", m.index(), " Commit:", m.commit());
      break;
    case raftpb::MSG_APP_RESP:
      absl::StrAppend(&out, " Index:", m.index());
      if (m.reject()) {
        absl::StrAppend(&out, " Rejected (Hint: ", m.reject_hint(), " Term: ", m.log_term(), ")");
      }
      break;
    case raftpb::MSG_VOTE:
    case raftpb::MSG_PRE_VOTE:
      absl::StrAppend(&out, " Log:", m.log_term(), "/", m.index());
      if (m.force()) absl::StrAppend(&out, " Force");
      break;
    case raftpb::MSG_VOTE_RESP:
    case raftpb::MSG_PRE_VOTE_RESP:
      if (m.reject()) absl::StrAppend(&out, " Rejected");
      break;
    case raftpb::MSG_HEARTBEAT:
    case raftpb::MSG_TIMEOUT_NOW:
      absl::StrAppend(&out, " Commit:", m.commit());
      break;
    case raftpb::MSG_SNAP:
      absl::StrAppend(&out, " Snapshot: ", DescribeSnapshot(m.snapshot()));
      break;
    case raftpb::MSG_READ_INDEX_RESP:
      absl::StrAppend(&out, " Index:", m.index());
      break;
    case raftpb::MSG_SNAP_STATUS:
      if (m.reject()) absl::StrAppend(&out, " Rejected");
      break;
    default:
      break;
  }
  if (!m.context().empty())
    absl::StrAppend(&out, " Context:\"", absl::CHexEscape(m.context()), "\"");
  if (m.entries_size() > 0) {
    absl::StrAppend(&out, " Entries:[");
    for (int i = 0; i < m.entries_size(); ++i) {
      if (i > 0) out += ", ";
      out += DescribeEntry(m.entries(i));
    }
    out += "]";
  }
  return out;
}

std::string DescribeHardState(const HardState& hs) {
  return absl::StrCat("Term:", hs.term(), " Vote:", hs.vote(), " Commit:", hs.commit());
}

std::string DescribeSoftState(const SoftState& ss) {
  return absl::StrCat("Lead:", ss.leader, " State:", RoleName(ss.role));
}

std::string DescribeConfState(const ConfState& cs) {
  return absl::StrCat("Voters:[", absl::StrJoin(cs.voters(), " "), "] Learners:[",
                      absl::StrJoin(cs.learners(), " "), "]");
}

std::string DescribeSnapshot(const Snapshot& snapshot) {
  const SnapshotMetadata& m = snapshot.metadata();
  return absl::StrCat("Index:", m.index(), " Term:", m.term(), " ",
                      DescribeConfState(m.conf_state()));
}

std::string DescribeReady(const Ready& rd, const std::string& indent) {
  std::string out;
  auto line = [&](const std::string& s) { absl::StrAppend(&out, indent, s, "\n"); };
  if (rd.soft_state) line(DescribeSoftState(*rd.soft_state));
  if (rd.hard_state) line(absl::StrCat("HardState ", DescribeHardState(*rd.hard_state)));
  if (rd.snapshot) line(absl::StrCat("Snapshot ", DescribeSnapshot(*rd.snapshot)));
  if (!rd.entries.empty()) {
    line("Entries:");
    for (const Entry& e : rd.entries) line(absl::StrCat("  ", DescribeEntry(e)));
  }
  if (!rd.committed_entries.empty()) {
    line("CommittedEntries:");
    for (const Entry& e : rd.committed_entries) line(absl::StrCat("  ", DescribeEntry(e)));
  }
  if (!rd.messages.empty()) {
    line("Messages:");
    for (const Message& m : rd.messages) line(absl::StrCat("  ", DescribeMessage(m)));
  }
  if (!rd.persisted_messages.empty()) {
    line("PersistedMessages:");
    for (const Message& m : rd.persisted_messages) line(absl::StrCat("  ", DescribeMessage(m)));
  }
  if (!rd.read_states.empty()) {
    line("ReadStates:");
    for (const ReadState& rs : rd.read_states) {
      line(absl::StrCat("  Index:", rs.index, " Context:\"", absl::CHexEscape(rs.context), "\""));
    }
  }
  if (rd.must_sync) line("MustSync");
  return out;
}

}  // namespace synod::raft
