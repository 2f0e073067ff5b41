#include "server/log_compaction.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "base/log.h"
#include "storage/snapshot_descriptor.h"

namespace synod::server {

LogCompaction::LogCompaction(uint64_t threshold, const raft::LogStorage* log,
                             const Membership* membership, Hooks hooks)
    : threshold_(threshold), log_(log), membership_(membership), hooks_(std::move(hooks)) {}

void LogCompaction::Reset(raft::LogIndex index) {
  pending_.reset();
  newest_ = index;
}

std::optional<raft::LogIndex> LogCompaction::pending() const {
  if (!pending_.has_value()) return std::nullopt;
  return pending_->index;
}

void LogCompaction::MaybeRequest(raft::LogIndex applied, uint64_t min_between) {
  if (requested_ || threshold_ == 0) return;
  if (applied < newest_ + std::max(threshold_, min_between)) return;
  requested_ = true;
  hooks_.request();
}

std::optional<raft::LogIndex> LogCompaction::OnCreated(raft::LogIndex index, bool ok) {
  requested_ = false;
  if (!ok || index <= newest_) return std::nullopt;
  absl::StatusOr<raft::Term> term = log_->TermAt(index);
  // Not in the log: the log moved past it (a snapshot from the leader was
  // installed meanwhile).
  if (!term.ok()) return std::nullopt;
  std::optional<raft::LogIndex> compacted;
  if (pending_.has_value()) {
    // The previous file becomes the log snapshot: compact up to it.
    raft::Snapshot snap;
    snap.mutable_metadata()->set_index(pending_->index);
    snap.mutable_metadata()->set_term(pending_->term);
    *snap.mutable_metadata()->mutable_conf_state() = pending_->conf.conf_state;
    std::vector<v1::Member> members;
    for (const auto& [id, m] : pending_->conf.members) members.push_back(m);
    snap.set_data(storage::EncodeSnapshotDescriptor(members));
    if (absl::Status s = hooks_.compact(snap); s.ok()) {
      compacted = pending_->index;
      hooks_.prune(pending_->index);
    } else {
      base::Log("log compaction to %llu skipped: %s",
                static_cast<unsigned long long>(pending_->index), s.ToString().c_str());
    }
  }
  pending_ = Pending{index, *term, membership_->At(index)};
  pending_->conf.index = index;
  newest_ = index;
  return compacted;
}

void LogCompaction::OnInstalled(raft::LogIndex index, raft::LogIndex applied) {
  pending_.reset();
  newest_ = index;
  // Older files go, except one the apply thread has yet to restore: a
  // snapshot installed in an earlier Ready may still wait in its queue (two
  // snapshots can arrive back to back while it is busy), and it restores
  // each in turn. Those are above its applied index.
  hooks_.prune(std::min<raft::LogIndex>(index, applied + 1));
}

}  // namespace synod::server
