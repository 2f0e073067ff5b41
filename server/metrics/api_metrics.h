// ApiMetrics: client API requests counted by method and gRPC status code,
// and the latency of unary requests by method, measured by a gRPC server
// interceptor: one hook for every service, no code in the handlers.
//
// Latency runs from when gRPC hands the call to the server to when its
// status is sent, so it includes the wait for commit and apply. Streams
// (watches, session keep-alives) are counted when they end; their lifetime
// is not a latency and is not recorded.
//
// The per-method table is built once, from the services' descriptors, and
// never changes: recording is a hash lookup and relaxed atomic adds.
// Methods not in the table are recorded under method="other".
//
// Thread: Record and the interceptors from any gRPC thread; Collect from
// the scraping thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "grpcpp/support/server_interceptor.h"
#include "server/metrics/metrics_registry.h"

namespace synod::server::metrics {

class ApiMetrics {
 public:
  // `services`: full protobuf service names, e.g. "synod.v1.Tree".
  explicit ApiMetrics(const std::vector<std::string>& services);
  ApiMetrics(const ApiMetrics&) = delete;
  ApiMetrics& operator=(const ApiMetrics&) = delete;

  // `method` as gRPC names it: "/synod.v1.Tree/Create".
  void Record(std::string_view method, int grpc_code, bool unary, absl::Duration latency);

  // synod_api_requests_total{method,code} (series seen at least once) and
  // synod_api_request_duration_seconds{method} (unary methods called at
  // least once).
  void Collect(std::vector<MetricFamily>* out) const;

  // An interceptor factory for grpc::ServerBuilder; `this` must outlive
  // the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

 private:
  static constexpr int kCodes = 17;  // grpc::StatusCode 0..16
  struct Method {
    explicit Method(std::string n) : name(std::move(n)), latency(LatencyBuckets()) {}
    std::string name;
    std::array<std::atomic<uint64_t>, kCodes + 1> codes{};  // last: out of range
    Histogram latency;
  };

  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods_;  // immutable
  std::unique_ptr<Method> other_;
};

}  // namespace synod::server::metrics
