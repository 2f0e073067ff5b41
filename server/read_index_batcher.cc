#include "server/read_index_batcher.h"

#include <algorithm>
#include <utility>

namespace synod::server {
namespace {

void AppendBigEndian(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

}  // namespace

ReadIndexBatcher::ReadIndexBatcher(raft::NodeId self, uint64_t nonce, int retry_ticks, Hooks hooks)
    : self_(self), nonce_(nonce), retry_ticks_(retry_ticks), hooks_(std::move(hooks)) {}

void ReadIndexBatcher::Add(const std::vector<uint64_t>& ids) {
  queued_.insert(queued_.end(), ids.begin(), ids.end());
}

bool ReadIndexBatcher::MaybeIssue(raft::RawNode* node, bool has_leader) {
  if (queued_.empty() || rounds_full()) return false;
  std::vector<uint64_t> ids;
  ids.swap(queued_);
  Issue(node, has_leader, std::move(ids));
  return true;
}

void ReadIndexBatcher::Tick(raft::RawNode* node, bool has_leader) {
  // A round needs one heartbeat exchange, no fsync: retry_ticks without an
  // answer means it is lost.
  std::vector<uint64_t> retry;
  for (auto it = rounds_.begin(); it != rounds_.end();) {
    if (++it->second.age_ticks >= retry_ticks_) {
      retry.insert(retry.end(), it->second.ids.begin(), it->second.ids.end());
      it = rounds_.erase(it);
    } else {
      ++it;
    }
  }
  if (!retry.empty()) Issue(node, has_leader, std::move(retry));
}

void ReadIndexBatcher::Issue(raft::RawNode* node, bool has_leader, std::vector<uint64_t> ids) {
  // Requests that already finished (timed out) need no read index.
  ids.erase(std::remove_if(ids.begin(), ids.end(), [this](uint64_t id) { return !hooks_.pending(id); }),
            ids.end());
  if (ids.empty()) return;
  if (!has_leader) {
    hooks_.fail(ids, v1::UNAVAILABLE,
                "no leader (election in progress or this replica is cut off); retry");
    return;
  }
  std::string ctx;
  AppendBigEndian(&ctx, self_);
  AppendBigEndian(&ctx, nonce_);
  AppendBigEndian(&ctx, next_ctx_++);
  node->ReadIndex(ctx);
  rounds_[ctx] = Round{std::move(ids), 0};
}

void ReadIndexBatcher::OnReadState(const raft::ReadState& rs) {
  auto it = rounds_.find(rs.context);
  if (it == rounds_.end()) return;
  std::vector<uint64_t> ids = std::move(it->second.ids);
  rounds_.erase(it);
  hooks_.serve(rs.index, std::move(ids));
}

size_t ReadIndexBatcher::held() const {
  size_t n = queued_.size();
  for (const auto& [ctx, round] : rounds_) n += round.ids.size();
  return n;
}

}  // namespace synod::server
