#include "server/metrics/api_metrics.h"

#include "gtest/gtest.h"
#include "synod/v1/tree.pb.h"

namespace synod::server::metrics {
namespace {

const MetricFamily& Get(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const MetricFamily& f : families) {
    if (f.name == name) return f;
  }
  static const MetricFamily none;
  ADD_FAILURE() << "no family " << name;
  return none;
}

TEST(ApiMetricsTest, CountsByMethodAndCodeAndTimesUnaryCalls) {
  ApiMetrics api({"no.such.Service"});
  api.Record("/a.B/Get", 0, true, absl::Milliseconds(2));
  api.Record("/a.B/Get", 0, true, absl::Milliseconds(3));
  api.Record("/a.B/Get", 14, true, absl::Milliseconds(1));
  api.Record("/a.B/Watch", 1, false, absl::Seconds(100));
  api.Record("/a.B/Get", 99, true, absl::Milliseconds(1));
  std::vector<MetricFamily> out;
  api.Collect(&out);
  const MetricFamily& requests = Get(out, "synod_api_requests_total");
  // Unknown methods all land under "other".
  ASSERT_EQ(requests.samples.size(), 4u);
  EXPECT_EQ(requests.samples[0].labels, (Labels{{"method", "other"}, {"code", "OK"}}));
  EXPECT_EQ(requests.samples[0].value, 2);
  EXPECT_EQ(requests.samples[1].labels, (Labels{{"method", "other"}, {"code", "CANCELLED"}}));
  EXPECT_EQ(requests.samples[2].labels, (Labels{{"method", "other"}, {"code", "UNAVAILABLE"}}));
  EXPECT_EQ(requests.samples[3].labels, (Labels{{"method", "other"}, {"code", "OTHER"}}));
  const MetricFamily& latency = Get(out, "synod_api_request_duration_seconds");
  ASSERT_EQ(latency.histograms.size(), 1u);
  uint64_t n = 0;
  for (uint64_t c : latency.histograms[0].bucket_counts) n += c;
  EXPECT_EQ(n, 4u);  // the stream is not timed
  EXPECT_NEAR(latency.histograms[0].sum, 0.007, 1e-9);
  for (const MetricFamily& f : out) EXPECT_EQ(ValidateFamily(f), "") << f.name;
}

TEST(ApiMetricsTest, KnowsTheMethodsOfTheGivenServices) {
  ASSERT_NE(v1::GetRequest::descriptor(), nullptr);  // links tree.proto's descriptors in
  ApiMetrics api({"synod.v1.Tree"});
  api.Record("/synod.v1.Tree/Get", 0, true, absl::Milliseconds(1));
  api.Record("/synod.v1.Tree/Create", 6, true, absl::Milliseconds(1));
  std::vector<MetricFamily> out;
  api.Collect(&out);
  const MetricFamily& requests = Get(out, "synod_api_requests_total");
  ASSERT_EQ(requests.samples.size(), 2u);
  EXPECT_EQ(requests.samples[0].labels,
            (Labels{{"method", "/synod.v1.Tree/Create"}, {"code", "ALREADY_EXISTS"}}));
  EXPECT_EQ(requests.samples[1].labels, (Labels{{"method", "/synod.v1.Tree/Get"}, {"code", "OK"}}));
  EXPECT_EQ(Get(out, "synod_api_request_duration_seconds").histograms.size(), 2u);
}

}  // namespace
}  // namespace synod::server::metrics
