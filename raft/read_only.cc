#include "raft/read_only.h"

#include <utility>

namespace synod::raft {

void ReadOnlyQueue::Add(LogIndex index, Message request) {
  std::string context = request.context();
  if (pending_.count(context) > 0) return;
  ReadIndexRequest& r = pending_[context];
  r.request = std::move(request);
  r.index = index;
  queue_.push_back(std::move(context));
}

const std::set<NodeId>* ReadOnlyQueue::RecvAck(NodeId id, const std::string& context) {
  auto it = pending_.find(context);
  if (it == pending_.end()) return nullptr;
  it->second.acks.insert(id);
  return &it->second.acks;
}

std::vector<ReadIndexRequest> ReadOnlyQueue::Advance(const std::string& context) {
  std::vector<ReadIndexRequest> out;
  if (pending_.count(context) == 0) return out;
  while (!queue_.empty()) {
    std::string ctx = std::move(queue_.front());
    queue_.pop_front();
    auto it = pending_.find(ctx);
    out.push_back(std::move(it->second));
    pending_.erase(it);
    if (ctx == context) break;
  }
  return out;
}

std::string ReadOnlyQueue::LastContext() const { return queue_.empty() ? "" : queue_.back(); }

void ReadOnlyQueue::Reset() {
  pending_.clear();
  queue_.clear();
}

}  // namespace synod::raft
