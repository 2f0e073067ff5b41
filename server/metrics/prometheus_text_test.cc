#include "server/metrics/prometheus_text.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace synod::server::metrics {
namespace {

TEST(PrometheusTextTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeHelp("say \"hi\"\\\nbye"), "say \"hi\"\\\\\\nbye");
}

TEST(PrometheusTextTest, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-7), "-7");
  EXPECT_EQ(FormatValue(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  const double third = 1.0 / 3.0;
  EXPECT_EQ(std::strtod(FormatValue(third).c_str(), nullptr), third);
}

TEST(PrometheusTextTest, ChecksNames) {
  EXPECT_TRUE(IsValidMetricName("synod_raft_term"));
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("9lives"));
  EXPECT_FALSE(IsValidMetricName("has-dash"));
  EXPECT_TRUE(IsValidLabelName("method"));
  EXPECT_FALSE(IsValidLabelName("__reserved"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("1x"));
}

TEST(PrometheusTextTest, RendersCountersAndGauges) {
  MetricFamily c;
  c.name = "x_requests_total";
  c.help = "Requests\nby code.";
  c.type = MetricType::kCounter;
  c.samples.push_back(Sample{{{"code", "OK"}, {"path", "/a\"b"}}, 3});
  MetricFamily g;
  g.name = "x_term";
  g.help = "Term.";
  g.type = MetricType::kGauge;
  g.samples.push_back(Sample{{}, 5});
  EXPECT_EQ(RenderText({c, g}),
            "# HELP x_requests_total Requests\\nby code.\n"
            "# TYPE x_requests_total counter\n"
            "x_requests_total{code=\"OK\",path=\"/a\\\"b\"} 3\n"
            "# HELP x_term Term.\n"
            "# TYPE x_term gauge\n"
            "x_term 5\n");
}

TEST(PrometheusTextTest, RendersHistogramsCumulatively) {
  MetricFamily h;
  h.name = "x_seconds";
  h.help = "Latency.";
  h.type = MetricType::kHistogram;
  h.histograms.push_back(HistogramSample{{{"m", "Get"}}, {0.1, 1}, {2, 0, 3}, 7.5});
  EXPECT_EQ(RenderText({h}),
            "# HELP x_seconds Latency.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{m=\"Get\",le=\"0.1\"} 2\n"
            "x_seconds_bucket{m=\"Get\",le=\"1\"} 2\n"
            "x_seconds_bucket{m=\"Get\",le=\"+Inf\"} 5\n"
            "x_seconds_sum{m=\"Get\"} 7.5\n"
            "x_seconds_count{m=\"Get\"} 5\n");
}

TEST(PrometheusTextTest, RendersUnlabelledHistogram) {
  MetricFamily h;
  h.name = "y";
  h.help = "Y.";
  h.type = MetricType::kHistogram;
  h.histograms.push_back(HistogramSample{{}, {1}, {0, 1}, 4});
  EXPECT_EQ(RenderText({h}),
            "# HELP y Y.\n# TYPE y histogram\n"
            "y_bucket{le=\"1\"} 0\ny_bucket{le=\"+Inf\"} 1\ny_sum 4\ny_count 1\n");
}

}  // namespace
}  // namespace synod::server::metrics
