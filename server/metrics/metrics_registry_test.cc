#include "server/metrics/metrics_registry.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace synod::server::metrics {
namespace {

const MetricFamily* Find(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const MetricFamily& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST(HistogramTest, CountsEachObservationInTheFirstBucketItFits) {
  Histogram h({1, 2, 5});
  h.Observe(0.5);
  h.Observe(1);  // le="1" includes 1
  h.Observe(1.5);
  h.Observe(5);
  h.Observe(100);
  const HistogramSample s = h.Snapshot();
  EXPECT_EQ(s.bucket_counts, (std::vector<uint64_t>{2, 1, 1, 1}));
  EXPECT_DOUBLE_EQ(s.sum, 108);
  EXPECT_EQ(h.count(), 5u);
}

TEST(HistogramTest, ConcurrentObservationsAreAllCounted) {
  Histogram h(LatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 10000; ++i) h.Observe(0.001 * (t + 1));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_NEAR(h.Snapshot().sum, 10000 * (0.001 + 0.002 + 0.003 + 0.004), 1e-6);
}

TEST(MetricsRegistryTest, GathersInstrumentsMergedByName) {
  MetricsRegistry r;
  Counter* ok = r.NewCounter("t_sent_total", "Sent.", {{"result", "ok"}});
  Counter* failed = r.NewCounter("t_sent_total", "Sent.", {{"result", "failed"}});
  Gauge* g = r.NewGauge("t_level", "Level.");
  Histogram* h = r.NewHistogram("t_seconds", "Latency.", {0.5, 1});
  ok->Inc(3);
  failed->Inc();
  g->Set(2.5);
  g->Add(-1);
  h->Observe(0.7);
  const std::vector<MetricFamily> families = r.Gather();
  ASSERT_EQ(families.size(), 3u);
  const MetricFamily* sent = Find(families, "t_sent_total");
  ASSERT_NE(sent, nullptr);
  ASSERT_EQ(sent->samples.size(), 2u);
  EXPECT_EQ(sent->samples[0].value, 3);
  EXPECT_EQ(sent->samples[1].value, 1);
  EXPECT_EQ(sent->samples[1].labels, (Labels{{"result", "failed"}}));
  EXPECT_EQ(Find(families, "t_level")->samples[0].value, 1.5);
  const MetricFamily* seconds = Find(families, "t_seconds");
  ASSERT_EQ(seconds->histograms.size(), 1u);
  EXPECT_EQ(seconds->histograms[0].bucket_counts, (std::vector<uint64_t>{0, 1, 0}));
}

TEST(MetricsRegistryTest, CollectorsAddFamiliesAndInvalidOnesAreDropped) {
  MetricsRegistry r;
  r.NewGauge("t_a", "A.")->Set(1);
  int calls = 0;
  r.AddCollector([&calls](std::vector<MetricFamily>* out) {
    ++calls;
    MetricFamily good;
    good.name = "t_b";
    good.help = "B.";
    good.samples.push_back(Sample{{}, 7});
    out->push_back(good);
    MetricFamily bad = good;
    bad.name = "t_c_total";  // a gauge may not end in _total
    out->push_back(bad);
    MetricFamily clash = good;
    clash.name = "t_a";  // same name as the gauge above, another type
    clash.type = MetricType::kCounter;
    out->push_back(clash);
  });
  const std::vector<MetricFamily> families = r.Gather();
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "t_a");
  EXPECT_EQ(families[0].samples.size(), 1u);
  EXPECT_EQ(families[1].name, "t_b");
  EXPECT_EQ(families[1].samples[0].value, 7);
  EXPECT_NE(r.Render().find("t_b 7\n"), std::string::npos);
}

TEST(MetricsRegistryTest, ValidateFamilyRules) {
  MetricFamily f;
  f.name = "t_x_total";
  f.type = MetricType::kCounter;
  EXPECT_EQ(ValidateFamily(f), "");
  f.name = "t_x";
  EXPECT_NE(ValidateFamily(f), "");
  f.type = MetricType::kHistogram;
  f.histograms.push_back(HistogramSample{{{"le", "1"}}, {1}, {0, 0}, 0});
  EXPECT_NE(ValidateFamily(f), "");  // le is reserved in histograms
  f.histograms[0].labels.clear();
  EXPECT_EQ(ValidateFamily(f), "");
  f.histograms[0].bucket_counts.pop_back();
  EXPECT_NE(ValidateFamily(f), "");
}

TEST(MetricsRegistryDeathTest, RefusesBadNames) {
  MetricsRegistry r;
  EXPECT_DEATH(r.NewCounter("t_no_suffix", "."), "_total");
  EXPECT_DEATH(r.NewGauge("bad-name", "."), "bad metric name");
  r.NewGauge("t_dup", ".");
  EXPECT_DEATH(r.NewGauge("t_dup", "."), "registered twice");
}

}  // namespace
}  // namespace synod::server::metrics
