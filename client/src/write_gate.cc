#include "client/src/write_gate.h"

#include <utility>
#include <vector>

namespace synod::client {

void WriteGate::Enter(std::function<void()> go) {
  {
    absl::MutexLock lock(&mu_);
    if (!closed_) {
      if (in_flight_ >= window_ || !waiting_.empty()) {
        waiting_.push_back(std::move(go));
        return;
      }
      ++in_flight_;
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
      --in_flight_;
      return;
    }
    // The leaving write's place goes to the first waiting one.
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
