// Majority quorum math (dissertation §3.4, §3.6): the decisions that need a
// majority of the voters. Pure functions over the voters' answers.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "absl/types/span.h"
#include "raft/types.h"

namespace synod::raft {

enum class VoteResult { kPending, kLost, kWon };

const char* VoteResultName(VoteResult result);

// Votes needed out of n voters.
inline size_t MajorityOf(size_t n) { return n / 2 + 1; }

// The highest index that a majority of the voters has acknowledged, given
// each voter's acknowledged index (absent voters count as 0). 0 if there
// are no voters.
LogIndex MajorityCommittedIndex(const std::vector<NodeId>& voters,
                                const std::map<NodeId, LogIndex>& acked);
// The same, given the acknowledged indexes of the voters directly (any
// order; reordered in place).
LogIndex MajorityCommittedIndex(absl::Span<LogIndex> acked);

// Outcome of an election given the votes received so far (true = granted).
// Votes from non-voters are ignored.
VoteResult TallyVotes(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes);

}  // namespace synod::raft
