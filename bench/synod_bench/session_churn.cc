#include "bench/synod_bench/session_churn.h"

#include <utility>

namespace synod::bench {

ChurnConnection::ChurnConnection(std::unique_ptr<SessionClient> client)
    : client_(std::move(client)), worker_([this] { Run(); }) {}

ChurnConnection::~ChurnConnection() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void ChurnConnection::Issue(OpKind kind, const std::string& key, const std::string& value,
                            Completion* done) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back({kind, key, &value, done});
  cv_.notify_all();
}

void ChurnConnection::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
    if (closing_) return;
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    if (p.kind != OpKind::kCreate) {
      p.done->Done(OpOutcome::kError, "session_churn connections only run create cycles");
    } else {
      const absl::Status s = client_->Cycle(p.key, *p.value);
      p.done->Done(s.ok() ? OpOutcome::kOk : OpOutcome::kError, s.message());
    }
    lock.lock();
  }
}

}  // namespace synod::bench
