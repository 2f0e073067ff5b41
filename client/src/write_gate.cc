#include "client/src/write_gate.h"

#include <utility>
#include <vector>

namespace synod::client {

void WriteGate::Enter(std::function<void()> go) {
  {
    absl::MutexLock lock(&mu_);
    if (!closed_) {
      if (busy_) {
        waiting_.push_back(std::move(go));
        return;
      }
      busy_ = true;
    }
  }
  go();
}

void WriteGate::Leave() {
  std::function<void()> next;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    if (waiting_.empty()) {
      busy_ = false;
      return;
    }
    next = std::move(waiting_.front());
    waiting_.pop_front();
  }
  // On the loop, not inline: a chain of writes that finish at once would
  // otherwise nest on this stack.
  loop_->Post(std::move(next));
}

void WriteGate::Close() {
  std::deque<std::function<void()>> waiting;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    waiting.swap(waiting_);
  }
  for (auto& go : waiting) go();
}

}  // namespace synod::client
