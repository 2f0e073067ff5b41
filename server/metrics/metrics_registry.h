// MetricsRegistry: the metrics of one replica, and the instruments the hot
// paths update.
//
// Instruments (Counter, Gauge, Histogram) are owned by the registry, live
// as long as it does, and are updated lock-free with relaxed atomics: a
// raft or apply thread that counts something never waits for a scrape.
// Histograms have fixed bucket bounds chosen at registration. Values that
// already live elsewhere (atomics of ReplicaState, RocksDB properties,
// /proc) are read at scrape time by collectors instead of being copied on
// every change.
//
// Gather() builds one MetricFamily per metric name, merging the labelled
// children registered under the same name (same type required) and the
// families collectors produce, in the order names first appeared.
//
// Registration checks names (prometheus_text.h rules; counters must end in
// "_total") and aborts on a bad one: that is a programming error.
//
// Thread: instruments from any thread; registration, AddCollector and
// Gather from any thread (one mutex, never taken by the instruments).
// Collectors run on the thread that calls Gather.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/metrics/prometheus_text.h"

namespace synod::server::metrics {

// A monotonically growing count.
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted in fixed buckets. A concurrent Snapshot may miss an
// observation that is being recorded, or see its bucket but not yet its
// sum; it is always self-consistent in its counts (the count is the sum of
// the buckets).
class Histogram {
 public:
  // `bounds` ascending, finite; an implicit +Inf bucket follows.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double v);
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(d)); }

  HistogramSample Snapshot(Labels labels = {}) const;
  uint64_t count() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies in seconds: 50 us to 10 s, about 2.5x apart
// (an fsync on NVMe is ~100 us, on a cloud disk ~2-10 ms).
std::vector<double> LatencyBuckets();

class MetricsRegistry {
 public:
  using Collector = std::function<void(std::vector<MetricFamily>* out)>;

  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Each returns an instrument owned by the registry. Registering the same
  // name and labels twice aborts.
  Counter* NewCounter(const std::string& name, const std::string& help, Labels labels = {});
  Gauge* NewGauge(const std::string& name, const std::string& help, Labels labels = {});
  Histogram* NewHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds, Labels labels = {});

  // `collect` is called by every Gather; it must not block on the raft or
  // apply threads.
  void AddCollector(Collector collect);

  std::vector<MetricFamily> Gather() const;
  // RenderText(Gather()).
  std::string Render() const;

 private:
  struct Instrument {
    std::string name;
    std::string help;
    MetricType type;
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Instrument* Add(const std::string& name, const std::string& help, MetricType type, Labels labels)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Instrument>> instruments_ ABSL_GUARDED_BY(mu_);
  std::vector<Collector> collectors_ ABSL_GUARDED_BY(mu_);
};

// Checks a family built by a collector or the registry (names, counter
// suffix, label names, histogram shape); returns what is wrong, or "".
std::string ValidateFamily(const MetricFamily& family);

}  // namespace synod::server::metrics
