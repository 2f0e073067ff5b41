// Human-readable one-line descriptions of Raft values, for scripted tests,
// simulator traces and logs. Stable formats: the scripted tests compare
// them verbatim.
#pragma once

#include <string>
#include <vector>

#include "raft/ready.h"
#include "raft/types.h"

namespace synod::raft {

// "MsgApp", "MsgVoteResp", ...
const char* MessageTypeName(MessageType type);
// `1/11 EntryNormal "data"`, `2/12 EntryConfChange AddLearner 4`.
std::string DescribeEntry(const Entry& entry);
std::string DescribeEntries(const std::vector<Entry>& entries);
// `1->2 MsgApp Term:1 Log:1/10 Commit:10 Entries:[...]`
std::string DescribeMessage(const Message& m);
// `AddLearner 4`
std::string DescribeConfChange(const ConfChange& change);
// `Term:1 Vote:1 Commit:10`
std::string DescribeHardState(const HardState& hs);
// `Lead:1 State:Leader`
std::string DescribeSoftState(const SoftState& ss);
// `Voters:[1 2 3] Learners:[4]`
std::string DescribeConfState(const ConfState& cs);
// `Index:10 Term:2 Voters:[1 2 3] Learners:[]`
std::string DescribeSnapshot(const Snapshot& snapshot);
// Several lines, one per part of the Ready, indented by `indent`.
std::string DescribeReady(const Ready& ready, const std::string& indent = "");

}  // namespace synod::raft
