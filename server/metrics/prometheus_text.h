// The Prometheus text exposition format, version 0.0.4: the data model a
// scrape is built from (families of samples) and its rendering.
//
// What the renderer promises, for any input it accepts: one "# HELP" and
// one "# TYPE" line per family, then its samples; label values escaped
// (\\, \", \n); HELP text escaped (\\, \n); histogram series rendered as
// cumulative "_bucket{le=...}" lines ending with le="+Inf", then "_sum" and
// "_count", with "_count" equal to the +Inf bucket. Names are not checked
// here: IsValidMetricName / IsValidLabelName are for the registry, which
// refuses bad names when they are registered.
//
// Thread: pure functions, any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace synod::server::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// Label (name, value) pairs, in the order they are printed.
using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  Labels labels;
  double value = 0;
};

// One labelled histogram series. `bucket_counts[i]` is the number of
// observations <= bounds[i] that were not counted in an earlier bucket (not
// cumulative); the last element counts those above every bound, so
// bucket_counts.size() == bounds.size() + 1. Bounds ascend.
struct HistogramSample {
  Labels labels;
  std::vector<double> bounds;
  std::vector<uint64_t> bucket_counts;
  double sum = 0;
};

struct MetricFamily {
  std::string name;  // counters end in "_total"
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<Sample> samples;              // counters and gauges
  std::vector<HistogramSample> histograms;  // histograms
};

// Renders `families` in order.
std::string RenderText(const std::vector<MetricFamily>& families);

// The HTTP Content-Type of RenderText's output.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Pieces of the format, exposed for tests.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// Integers exactly (up to 2^53), "+Inf", "-Inf", "NaN", else shortest
// round-tripping decimal.
std::string FormatValue(double value);
// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved).
bool IsValidLabelName(std::string_view name);

}  // namespace synod::server::metrics
