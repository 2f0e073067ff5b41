// WatchHub costs on the apply thread: fan-out of one event to N one-shot
// watchers (on N streams, as N clients), and an event nobody watches while
// N watches sit on other paths (it must not cost O(N)).
#include <benchmark/benchmark.h>
#include <time.h>

#include <memory>
#include <string>
#include <vector>

#include "server/watch/watch_hub.h"

namespace synod::server {
namespace {

class NoHistory : public EventHistory {
 public:
  absl::StatusOr<EventPage> EventsAfter(uint64_t, size_t) override { return EventPage(); }
};

class NoRunner : public TaskRunner {
 public:
  void Post(absl::AnyInvocable<void() &&>) override {}
};

// CPU time of this thread: the machine may be shared, wall time is not
// what the apply thread spends.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

v1::WatchEvent DataChanged(const std::string& path, uint64_t revision) {
  v1::WatchEvent e;
  e.set_type(v1::EVENT_NODE_DATA_CHANGED);
  e.set_path(path);
  e.set_revision(revision);
  return e;
}

// OnApplied of one set with state.range(0) one-shot watchers on the node,
// each on its own stream; then every stream polls its one response.
void BM_OneShotFanOut(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  NoHistory history;
  NoRunner runner;
  WatchHub hub(WatchHubOptions(), &history, &runner, 0);
  std::vector<WatchHub::StreamId> streams;
  for (int i = 0; i < n; ++i) streams.push_back(hub.OpenStream([] {}));
  v1::WatchCreateRequest create;
  create.set_watch_id(1);
  create.set_path("/hot");
  create.set_kind(v1::WATCH_DATA);
  v1::WatchResponse response;
  uint64_t revision = 0;
  double apply_seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto s : streams) {
      hub.Create(s, create);
      hub.Poll(s, &response);  // the ack
      hub.Poll(s, &response);
    }
    std::vector<v1::WatchEvent> events = {DataChanged("/hot", ++revision)};
    state.ResumeTiming();
    const double start = ThreadCpuSeconds();
    hub.OnApplied(revision, events);
    apply_seconds += ThreadCpuSeconds() - start;
    for (auto s : streams) benchmark::DoNotOptimize(hub.Poll(s, &response));
  }
  // OnApplied alone, in thread CPU time.
  state.counters["apply_us"] =
      benchmark::Counter(apply_seconds * 1e6 / static_cast<double>(state.iterations()));
  state.counters["apply_ns_per_watcher"] =
      benchmark::Counter(apply_seconds * 1e9 / static_cast<double>(state.iterations()) / n);
}
BENCHMARK(BM_OneShotFanOut)->Arg(1000)->Arg(10000)->Iterations(20)->Unit(benchmark::kMicrosecond);

// An event on a path nobody watches, with state.range(0) persistent watches
// elsewhere (one recursive watch on an unrelated subtree forces the
// ancestor walk).
void BM_UnwatchedEvent(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  NoHistory history;
  NoRunner runner;
  WatchHub hub(WatchHubOptions(), &history, &runner, 0);
  auto s = hub.OpenStream([] {});
  v1::WatchCreateRequest create;
  create.set_kind(v1::WATCH_PERSISTENT);
  for (int i = 0; i < n; ++i) {
    create.set_watch_id(i + 1);
    create.set_path("/w/" + std::to_string(i));
    hub.Create(s, create);
    v1::WatchResponse ack;
    hub.Poll(s, &ack);
  }
  create.set_watch_id(n + 1);
  create.set_path("/other");
  create.set_kind(v1::WATCH_PERSISTENT_RECURSIVE);
  hub.Create(s, create);
  uint64_t revision = 0;
  std::vector<v1::WatchEvent> events = {DataChanged("/app/config/a/b", 0)};
  for (auto _ : state) {
    events[0].set_revision(++revision);
    hub.OnApplied(revision, events);
  }
}
BENCHMARK(BM_UnwatchedEvent)->Arg(1000)->Arg(100000);

}  // namespace
}  // namespace synod::server

BENCHMARK_MAIN();
