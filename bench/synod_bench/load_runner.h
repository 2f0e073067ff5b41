// The load engine: keeps clients x inflight operations outstanding over a
// set of Connections and measures what completes.
//
// Each in-flight slot issues its next operation from the completion of the
// previous one (closed loop), so a slot never has two operations out and
// there is no thread per request. A run is either timed (warm-up, then a
// measured window of duration_s) or counted (exactly `count` operations, all
// measured). The preload workload creates keys 0..keys-1 once each;
// session_churn issues creates of new keys under kChurnParent, for
// ChurnConnections to run as session cycles. watch_fanout is not run here
// (RunFanout in watch_fanout.h).
//
// Thread: RunLoad blocks its caller; completions run on the drivers'
// threads. Latencies are kept per slot (one op at a time per slot, so no
// lock) and merged after every slot has gone idle.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/synod_bench/driver.h"
#include "bench/synod_bench/progress.h"

namespace synod::bench {

enum class Workload {
  kWrite,
  kReadLinearizable,
  kReadSerializable,
  kMixed,
  kCreate,
  kPreload,
  kWatchFanout,
  kSessionChurn,
};

absl::StatusOr<Workload> ParseWorkload(const std::string& name);

struct RunOptions {
  Workload workload = Workload::kWrite;
  int inflight = 1;  // per connection
  double duration_s = 10;
  double warmup_s = 2;
  uint64_t count = 0;  // > 0: a counted run instead of a timed one
  uint64_t keys = 1000;
  std::string value;
  int mixed_write_percent = 10;
  OpKind mixed_read = OpKind::kReadLinearizable;
  uint64_t seed = 1;
};

struct RunResult {
  uint64_t ok = 0;
  uint64_t errors = 0;
  double seconds = 0;                // the measured window
  std::vector<double> latencies_us;  // sorted, successful ops only
  std::vector<std::string> first_errors;
};

// Called at the start and the end of the measured window (to sample CPU).
struct WindowHooks {
  std::function<void()> begin = [] {};
  std::function<void()> end = [] {};
};

// Runs `options` over `connections` (each gets options.inflight slots),
// telling `progress` each phase and a tick every progress.interval_s.
// Not for kWatchFanout.
RunResult RunLoad(const RunOptions& options, const std::vector<Connection*>& connections,
                  const WindowHooks& hooks, const ProgressHooks& progress = ProgressHooks());

// Nearest-rank percentile of sorted values (0 if empty); p in [0, 1].
double Percentile(const std::vector<double>& sorted, double p);

}  // namespace synod::bench
