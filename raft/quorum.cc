#include "raft/quorum.h"

#include <algorithm>
#include <functional>

namespace synod::raft {

const char* VoteResultName(VoteResult result) {
  switch (result) {
    case VoteResult::kPending:
      return "VotePending";
    case VoteResult::kLost:
      return "VoteLost";
    case VoteResult::kWon:
      return "VoteWon";
  }
  return "VoteUnknown";
}

LogIndex MajorityCommittedIndex(absl::Span<LogIndex> acked) {
  if (acked.empty()) return 0;
  // With the indexes in decreasing order, the one at position n/2 is held
  // by n/2 + 1 voters (itself and every larger one): a majority.
  const size_t k = acked.size() / 2;
  std::nth_element(acked.begin(), acked.begin() + k, acked.end(), std::greater<LogIndex>());
  return acked[k];
}

LogIndex MajorityCommittedIndex(const std::vector<NodeId>& voters,
                                const std::map<NodeId, LogIndex>& acked) {
  std::vector<LogIndex> indexes;
  indexes.reserve(voters.size());
  for (NodeId id : voters) {
    auto it = acked.find(id);
    indexes.push_back(it == acked.end() ? 0 : it->second);
  }
  return MajorityCommittedIndex(absl::MakeSpan(indexes));
}

VoteResult TallyVotes(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes) {
  size_t granted = 0;
  size_t rejected = 0;
  for (NodeId id : voters) {
    auto it = votes.find(id);
    if (it == votes.end()) continue;
    if (it->second) {
      ++granted;
    } else {
      ++rejected;
    }
  }
  const size_t q = MajorityOf(voters.size());
  if (granted >= q) return VoteResult::kWon;
  if (voters.size() - rejected < q) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace synod::raft
