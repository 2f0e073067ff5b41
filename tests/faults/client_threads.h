// ClientThreads: the client threads of a workload: starts one per client,
// counts their operations, and stops and joins them.
//
// Thread: Start/Stop from the owner thread; `body` runs on the client
// threads and should return soon after stopping() turns true.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace synod::faults {

class ClientThreads {
 public:
  ClientThreads() = default;
  ~ClientThreads() { Stop(); }
  ClientThreads(const ClientThreads&) = delete;
  ClientThreads& operator=(const ClientThreads&) = delete;

  void Start(int clients, std::function<void(int client)> body) {
    stop_ = false;
    for (int c = 0; c < clients; ++c) threads_.emplace_back([body, c] { body(c); });
  }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }
  bool stopping() const { return stop_.load(); }
  void CountOp() { ops_done_.fetch_add(1); }
  int64_t ops_done() const { return ops_done_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ops_done_{0};
  std::vector<std::thread> threads_;
};

}  // namespace synod::faults
