#include "server/proposals.h"

#include <algorithm>
#include <utility>

#include "base/log.h"

namespace synod::server {

Proposals::Proposals(raft::NodeId self, Hooks hooks) : self_(self), hooks_(std::move(hooks)) {}

int64_t Proposals::StampTime() {
  last_stamp_ms_ = std::max(last_stamp_ms_, hooks_.now_ms());
  return last_stamp_ms_;
}

void Proposals::Propose(raft::RawNode* node, bool has_leader, v1::Command* command) {
  const uint64_t id = command->origin_request();
  // The core's term now, not the term of the last Ready: a message stepped
  // just before may have moved it.
  const raft::Term term = node->term();
  command->set_origin_member(self_);
  command->set_leader_time_ms(StampTime());
  command->set_proposal_term(term);
  if (!has_leader) {
    hooks_.refuse(id, v1::UNAVAILABLE,
                  "no leader (election in progress or this replica is cut off); retry");
    return;
  }
  absl::Status s = node->Propose(command->SerializeAsString());
  if (!s.ok()) {
    hooks_.refuse(
        id, s.code() == absl::StatusCode::kResourceExhausted ? v1::UNAVAILABLE : v1::NOT_LEADER,
        std::string(s.message()));
    return;
  }
  if (id != 0) Remember(id, term);
}

void Proposals::Flush() {
  if (unflushed_.empty()) return;
  hooks_.mark_proposed(std::move(unflushed_));
  unflushed_.clear();
}

void Proposals::Remember(uint64_t request_id, raft::Term term) {
  unflushed_.push_back(request_id);
  std::vector<uint64_t>& ids = by_term_[term];
  ids.push_back(request_id);
  if (ids.size() < prune_at_) return;
  // A long term proposes without end: drop the ids that already finished,
  // so the list holds about what is in flight.
  ids.erase(
      std::remove_if(ids.begin(), ids.end(), [this](uint64_t id) { return !hooks_.pending(id); }),
      ids.end());
  prune_at_ = std::max<size_t>(1024, 2 * ids.size());
}

size_t Proposals::remembered() const {
  size_t n = 0;
  for (const auto& [term, ids] : by_term_) n += ids.size();
  return n;
}

bool Proposals::FilterForwarded(const raft::RawNode& node, bool from_member, raft::Message* m) {
  const raft::Term term = node.term();
  const bool leader = node.soft_state().role == raft::Role::kLeader;
  if (leader && !from_member) {
    base::Log(base::LogLevel::kWarning, "forwarded proposal from non-member %llu dropped",
              static_cast<unsigned long long>(m->from()));
    return false;
  }
  auto* entries = m->mutable_entries();
  int kept = 0;
  for (int i = 0; i < entries->size(); ++i) {
    raft::Entry& e = (*entries)[i];
    if (e.type() != raftpb::ENTRY_NORMAL) {
      base::Log(base::LogLevel::kWarning, "membership change forwarded by member %llu dropped",
                static_cast<unsigned long long>(m->from()));
      continue;
    }
    v1::Command c;
    if (e.data().empty() || !c.ParseFromString(e.data()) || c.proposal_term() != term) {
      // Proposed in another term (or no command at all): see the class
      // comment. Its origin answers it once a later term's entry applies.
      continue;
    }
    if (leader) {
      c.set_leader_time_ms(StampTime());
      e.set_data(c.SerializeAsString());
    }
    if (kept != i) entries->SwapElements(kept, i);
    ++kept;
  }
  if (kept < entries->size()) entries->DeleteSubrange(kept, entries->size() - kept);
  return kept > 0;
}

// A write proposed here in term T carries T (proposal_term) and can only
// become an entry of term T: the leader of T appends it only while in T,
// and nobody forwards it in another term (FilterForwarded). Entries of term
// T precede the first entry of any later term in every log that commits it
// (§3.6: terms in a log never decrease; §3.5 log matching). So once an entry
// of a later term is applied here, a write of term T still pending will
// never be applied after that point: its fate is decided. Its caller hears
// DEADLINE_EXCEEDED (outcome unknown) at once rather than at its deadline:
// it was most likely lost, but a snapshot installed here may have carried it
// in without its entry, and a session write is retried and answered once by
// the session table (§6.3).
void Proposals::OnCommitted(const std::vector<raft::Entry>& committed) {
  for (const raft::Entry& e : committed) {
    if (e.term() <= committed_term_) continue;
    committed_term_ = e.term();
    std::vector<uint64_t> stale;
    auto end = by_term_.lower_bound(e.term());
    for (auto it = by_term_.begin(); it != end; ++it) {
      stale.insert(stale.end(), it->second.begin(), it->second.end());
    }
    by_term_.erase(by_term_.begin(), end);
    if (!stale.empty()) hooks_.fail_after(e.index(), std::move(stale));
  }
}

}  // namespace synod::server
