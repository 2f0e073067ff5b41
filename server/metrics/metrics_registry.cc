#include "server/metrics/metrics_registry.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/check.h"

namespace synod::server::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  SYNOD_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()) &&
              std::adjacent_find(bounds_.begin(), bounds_.end()) == bounds_.end())
      << "histogram bounds must ascend strictly";
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // Bucket i holds bounds_[i-1] < v <= bounds_[i] ("le" semantics).
  const size_t i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

HistogramSample Histogram::Snapshot(Labels labels) const {
  HistogramSample s;
  s.labels = std::move(labels);
  s.bounds = bounds_;
  s.bucket_counts.resize(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    s.bucket_counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

uint64_t Histogram::count() const {
  uint64_t n = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) n += counts_[i].load(std::memory_order_relaxed);
  return n;
}

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

std::string ValidateFamily(const MetricFamily& family) {
  if (!IsValidMetricName(family.name)) return absl::StrCat("bad metric name '", family.name, "'");
  if (family.type == MetricType::kCounter && !absl::EndsWith(family.name, "_total")) {
    return absl::StrCat("counter ", family.name, " does not end in _total");
  }
  if (family.type != MetricType::kCounter && absl::EndsWith(family.name, "_total")) {
    return absl::StrCat(family.name, " ends in _total but is not a counter");
  }
  auto check_labels = [&](const Labels& labels) -> std::string {
    for (const auto& [name, value] : labels) {
      if (!IsValidLabelName(name) || (family.type == MetricType::kHistogram && name == "le")) {
        return absl::StrCat(family.name, ": bad label name '", name, "'");
      }
    }
    return "";
  };
  for (const Sample& s : family.samples) {
    if (std::string e = check_labels(s.labels); !e.empty()) return e;
  }
  for (const HistogramSample& h : family.histograms) {
    if (std::string e = check_labels(h.labels); !e.empty()) return e;
    if (h.bucket_counts.size() != h.bounds.size() + 1) {
      return absl::StrCat(family.name, ": histogram needs one count per bound plus +Inf");
    }
  }
  if (family.type == MetricType::kHistogram && !family.samples.empty()) {
    return absl::StrCat(family.name, ": histogram with plain samples");
  }
  if (family.type != MetricType::kHistogram && !family.histograms.empty()) {
    return absl::StrCat(family.name, ": histogram series in a ", "non-histogram family");
  }
  return "";
}

MetricsRegistry::Instrument* MetricsRegistry::Add(const std::string& name, const std::string& help,
                                                  MetricType type, Labels labels) {
  MetricFamily probe;
  probe.name = name;
  probe.type = type;
  if (type == MetricType::kHistogram) {
    probe.histograms.push_back(HistogramSample{labels, {}, {0}, 0});
  } else {
    probe.samples.push_back(Sample{labels, 0});
  }
  const std::string error = ValidateFamily(probe);
  SYNOD_CHECK(error.empty()) << error;
  for (const auto& i : instruments_) {
    SYNOD_CHECK(i->name != name || (i->type == type && i->labels != labels))
        << "metric " << name << " registered twice or with two types";
  }
  auto instrument = std::make_unique<Instrument>();
  instrument->name = name;
  instrument->help = help;
  instrument->type = type;
  instrument->labels = std::move(labels);
  instruments_.push_back(std::move(instrument));
  return instruments_.back().get();
}

Counter* MetricsRegistry::NewCounter(const std::string& name, const std::string& help,
                                     Labels labels) {
  absl::MutexLock lock(&mu_);
  Instrument* i = Add(name, help, MetricType::kCounter, std::move(labels));
  i->counter = std::make_unique<Counter>();
  return i->counter.get();
}

Gauge* MetricsRegistry::NewGauge(const std::string& name, const std::string& help, Labels labels) {
  absl::MutexLock lock(&mu_);
  Instrument* i = Add(name, help, MetricType::kGauge, std::move(labels));
  i->gauge = std::make_unique<Gauge>();
  return i->gauge.get();
}

Histogram* MetricsRegistry::NewHistogram(const std::string& name, const std::string& help,
                                         std::vector<double> bounds, Labels labels) {
  absl::MutexLock lock(&mu_);
  Instrument* i = Add(name, help, MetricType::kHistogram, std::move(labels));
  i->histogram = std::make_unique<Histogram>(std::move(bounds));
  return i->histogram.get();
}

void MetricsRegistry::AddCollector(Collector collect) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collect));
}

std::vector<MetricFamily> MetricsRegistry::Gather() const {
  std::vector<MetricFamily> out;
  std::map<std::string, size_t> by_name;
  // Merges `f` into the family of the same name; a family whose type
  // differs from the first one of that name is dropped (it could not be
  // rendered validly).
  auto merge = [&](MetricFamily f) {
    auto [it, inserted] = by_name.emplace(f.name, out.size());
    if (inserted) {
      out.push_back(std::move(f));
      return;
    }
    MetricFamily& into = out[it->second];
    if (into.type != f.type) return;
    for (Sample& s : f.samples) into.samples.push_back(std::move(s));
    for (HistogramSample& h : f.histograms) into.histograms.push_back(std::move(h));
  };
  std::vector<Collector> collectors;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& i : instruments_) {
      MetricFamily f;
      f.name = i->name;
      f.help = i->help;
      f.type = i->type;
      if (i->counter != nullptr) {
        f.samples.push_back(Sample{i->labels, static_cast<double>(i->counter->value())});
      } else if (i->gauge != nullptr) {
        f.samples.push_back(Sample{i->labels, i->gauge->value()});
      } else {
        f.histograms.push_back(i->histogram->Snapshot(i->labels));
      }
      merge(std::move(f));
    }
    collectors = collectors_;
  }
  // Collectors run without the lock: they read RocksDB and /proc.
  for (const Collector& collect : collectors) {
    std::vector<MetricFamily> families;
    collect(&families);
    for (MetricFamily& f : families) {
      if (ValidateFamily(f).empty()) merge(std::move(f));
    }
  }
  return out;
}

std::string MetricsRegistry::Render() const { return RenderText(Gather()); }

}  // namespace synod::server::metrics
