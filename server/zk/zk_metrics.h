// ZkMetrics: what the ZooKeeper port serves, counted as it happens: open
// connections, requests by opcode, error replies by ZooKeeper error code,
// frames and bytes in and out, and request latency. Prometheus reads it
// through Collect (on the replica's metrics registry) and the mntr, srvr
// and stat four-letter words through Snapshot: the same numbers.
//
// Thread: the counters from any thread (relaxed atomics); Collect and
// Snapshot from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/metrics/metrics_registry.h"

namespace synod::zk {

// A request type's name ("getData", "multiRead", "connect" for a
// ConnectRequest); "other" for a type ZooKeeper does not define.
std::string ZkOpName(int32_t type);
// A KeeperException.Code's name ("NONODE"); the number for others.
std::string ZkErrorName(int32_t err);

class ZkMetrics {
 public:
  // Request types counted apart: the opcodes ZooKeeper 3.8 defines, and a
  // ConnectRequest.
  static constexpr int32_t kConnect = 1000;

  ZkMetrics();
  ZkMetrics(const ZkMetrics&) = delete;
  ZkMetrics& operator=(const ZkMetrics&) = delete;

  void ConnectionOpened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  // One request frame of `type` (kConnect for a ConnectRequest).
  void Request(int32_t type);
  // One reply; `err` is its header's code (0: none); `latency` since its
  // request arrived.
  void Reply(int32_t err, absl::Duration latency);
  // One frame sent that answers no request (a watch notification).
  void Notification() { packets_sent_.fetch_add(1, std::memory_order_relaxed); }
  void BytesIn(uint64_t n) { bytes_in_.fetch_add(n, std::memory_order_relaxed); }
  void BytesOut(uint64_t n) { bytes_out_.fetch_add(n, std::memory_order_relaxed); }

  struct Snapshot {
    int64_t connections = 0;
    uint64_t packets_received = 0;
    uint64_t packets_sent = 0;
    uint64_t bytes_received = 0;
    uint64_t bytes_sent = 0;
    // Of the requests answered, in milliseconds; 0 when none was.
    int64_t min_latency_ms = 0;
    double avg_latency_ms = 0;
    int64_t max_latency_ms = 0;
  };
  Snapshot Take() const;

  // synod_zk_connections, synod_zk_requests_total{op},
  // synod_zk_errors_total{code}, synod_zk_packets_total{direction},
  // synod_zk_bytes_total{direction}, synod_zk_request_duration_seconds.
  void Collect(std::vector<server::metrics::MetricFamily>* out) const;

 private:
  // Slot of a request type in requests_; the last one is "other".
  static size_t OpSlot(int32_t type);
  static constexpr size_t kOpSlots = 32;
  // Error codes 0..-kErrorSlots+1 by their negation; the last slot: others.
  static constexpr size_t kErrorSlots = 129;

  std::atomic<int64_t> connections_{0};
  std::array<std::atomic<uint64_t>, kOpSlots> requests_{};
  std::array<std::atomic<uint64_t>, kErrorSlots + 1> errors_{};
  std::atomic<uint64_t> packets_received_{0};
  std::atomic<uint64_t> packets_sent_{0};
  std::atomic<uint64_t> bytes_in_{0};
  std::atomic<uint64_t> bytes_out_{0};
  std::atomic<uint64_t> replies_{0};
  std::atomic<uint64_t> latency_us_sum_{0};
  std::atomic<uint64_t> latency_us_min_{UINT64_MAX};
  std::atomic<uint64_t> latency_us_max_{0};
  server::metrics::Histogram latency_;
};

}  // namespace synod::zk
