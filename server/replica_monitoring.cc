// Replica::StartMetrics: the collectors of a replica's metrics and, with
// --metrics_addr, the HTTP listener for /metrics, /health and /ready.
#include <utility>
#include <vector>

#include "base/log.h"
#include "server/metrics/health.h"
#include "server/metrics/process_metrics.h"
#include "server/metrics/replica_metrics.h"
#include "server/replica.h"
#include "server/replica_parts.h"

#ifndef SYNOD_VERSION
#define SYNOD_VERSION "unknown"
#endif

namespace synod::server {

namespace {

// The load bounds' state: how close the replica is to refusing work.
void CollectLoadBounds(const RequestTracker& tracker, const StateMachine& state_machine,
                       const WatchHub& hub, std::vector<metrics::MetricFamily>* out) {
  auto add = [out](const char* name, const char* help, metrics::MetricType type, double v) {
    metrics::MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    f.samples.push_back(metrics::Sample{{}, v});
    out->push_back(std::move(f));
  };
  add("synod_pending_requests", "Requests pending on this replica (--max_pending_requests).",
      metrics::MetricType::kGauge, static_cast<double>(tracker.size()));
  add("synod_pending_request_bytes", "Data of the requests pending (--max_pending_mb).",
      metrics::MetricType::kGauge, static_cast<double>(tracker.bytes()));
  add("synod_requests_refused_total",
      "Requests refused with RESOURCE_EXHAUSTED by the pending-request bounds.",
      metrics::MetricType::kCounter, static_cast<double>(tracker.refused()));
  add("synod_read_waits", "Reads waiting for a revision to be applied.",
      metrics::MetricType::kGauge, static_cast<double>(state_machine.pending_waits()));
  add("synod_watch_creates_refused_total",
      "Watch creates refused with TOO_MANY_WATCHES (--max_watches*).",
      metrics::MetricType::kCounter, static_cast<double>(hub.GetStats().refused));
}

}  // namespace

absl::Status Replica::StartMetrics(Parts* p) {
  metrics::ApiMetrics* api = p->api_metrics.get();
  p->registry->AddCollector([api](std::vector<metrics::MetricFamily>* out) { api->Collect(out); });
  p->registry->AddCollector(metrics::CollectProcessMetrics);
  metrics::ReplicaSources sources;
  sources.state = p->state.get();
  sources.env = p->env.get();
  sources.log = p->log.get();
  sources.store = p->store.get();
  sources.sessions = p->sessions.get();
  sources.watches = p->watch_hub.get();
  sources.version = SYNOD_VERSION;
  metrics::AddReplicaCollector(p->registry.get(), sources);
  p->registry->AddCollector([tracker = p->tracker.get(), state_machine = p->state_machine.get(),
                             hub = p->watch_hub.get()](std::vector<metrics::MetricFamily>* out) {
    CollectLoadBounds(*tracker, *state_machine, *hub, out);
  });
  if (p->options.metrics_addr.empty()) return absl::OkStatus();
  metrics::MetricsHttpServer::Options http;
  http.addr = p->options.metrics_addr;
  const metrics::MetricsRegistry* registry = p->registry.get();
  const ReplicaState* state = p->state.get();
  const uint64_t max_lag = p->options.ready_max_lag;
  http.handlers["/metrics"] = [registry] {
    metrics::HttpResponse r;
    r.content_type = metrics::kTextContentType;
    r.body = registry->Render();
    return r;
  };
  http.handlers["/health"] = [state] {
    return metrics::ProbeResponse(metrics::CheckHealth(*state));
  };
  http.handlers["/ready"] = [state, max_lag] {
    return metrics::ProbeResponse(metrics::CheckReady(*state, max_lag));
  };
  absl::StatusOr<std::unique_ptr<metrics::MetricsHttpServer>> server =
      metrics::MetricsHttpServer::Start(std::move(http));
  if (!server.ok()) return server.status();
  p->metrics_http = *std::move(server);
  base::Log("metrics on %s (port %d): /metrics /health /ready", p->options.metrics_addr.c_str(),
      p->metrics_http->port());
  return absl::OkStatus();
}

}  // namespace synod::server
