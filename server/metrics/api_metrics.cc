#include "server/metrics/api_metrics.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"

namespace synod::server::metrics {
namespace {

const char* CodeName(int code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  return code >= 0 && code < 17 ? kNames[code] : "OTHER";
}

class Interceptor final : public grpc::experimental::Interceptor {
 public:
  Interceptor(ApiMetrics* metrics, const char* method, bool unary)
      : metrics_(metrics), method_(method), unary_(unary), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Record(method_, static_cast<int>(methods->GetSendStatus().error_code()), unary_,
                       absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  ApiMetrics* const metrics_;
  const char* const method_;  // owned by gRPC, lives as long as the call
  const bool unary_;
  const absl::Time start_;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(ApiMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new Interceptor(metrics_, info->method(),
                           info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY);
  }

 private:
  ApiMetrics* const metrics_;
};

}  // namespace

ApiMetrics::ApiMetrics(const std::vector<std::string>& services)
    : other_(std::make_unique<Method>("other")) {
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      std::string key = absl::StrCat("/", service->full_name(), "/", service->method(i)->name());
      methods_.emplace(key, std::make_unique<Method>(key));
    }
  }
}

void ApiMetrics::Record(std::string_view method, int grpc_code, bool unary,
                        absl::Duration latency) {
  auto it = methods_.find(absl::string_view(method.data(), method.size()));
  Method* m = it == methods_.end() ? other_.get() : it->second.get();
  const int slot = grpc_code >= 0 && grpc_code < kCodes ? grpc_code : kCodes;
  m->codes[slot].fetch_add(1, std::memory_order_relaxed);
  if (unary) m->latency.ObserveDuration(latency);
}

void ApiMetrics::Collect(std::vector<MetricFamily>* out) const {
  MetricFamily requests;
  requests.name = "synod_api_requests_total";
  requests.help = "Client API requests finished, by gRPC method and gRPC status code.";
  requests.type = MetricType::kCounter;
  MetricFamily latency;
  latency.name = "synod_api_request_duration_seconds";
  latency.help =
      "Latency of unary client API requests, from arrival to status sent, by gRPC method.";
  latency.type = MetricType::kHistogram;
  std::vector<const Method*> all;
  for (const auto& [name, m] : methods_) all.push_back(m.get());
  std::sort(all.begin(), all.end(),
            [](const Method* a, const Method* b) { return a->name < b->name; });
  all.push_back(other_.get());
  for (const Method* m : all) {
    for (int c = 0; c <= kCodes; ++c) {
      const uint64_t n = m->codes[c].load(std::memory_order_relaxed);
      if (n == 0) continue;
      requests.samples.push_back(
          Sample{{{"method", m->name}, {"code", CodeName(c)}}, static_cast<double>(n)});
    }
    if (m->latency.count() > 0) {
      latency.histograms.push_back(m->latency.Snapshot({{"method", m->name}}));
    }
  }
  out->push_back(std::move(requests));
  out->push_back(std::move(latency));
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ApiMetrics::NewInterceptorFactory() {
  return std::make_unique<Factory>(this);
}

}  // namespace synod::server::metrics
