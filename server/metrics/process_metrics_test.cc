#include "server/metrics/process_metrics.h"

#include <map>

#include "gtest/gtest.h"

namespace synod::server::metrics {
namespace {

TEST(ProcessMetricsTest, ParsesAStatLineWhoseNameHasSpacesAndParens) {
  const std::string line =
      "1234 (synod (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 "
      "5000 123456789 4321 18446744073709551615";
  ProcStat st;
  ASSERT_TRUE(ParseProcStat(line, &st));
  EXPECT_EQ(st.utime_ticks, 250);
  EXPECT_EQ(st.stime_ticks, 50);
  EXPECT_EQ(st.num_threads, 7);
  EXPECT_EQ(st.start_ticks, 5000);
  EXPECT_EQ(st.vsize_bytes, 123456789);
  EXPECT_EQ(st.rss_pages, 4321);
  EXPECT_FALSE(ParseProcStat("1234 (short) S 1 2", &st));
  EXPECT_FALSE(ParseProcStat("no parens", &st));
}

TEST(ProcessMetricsTest, ReportsThisProcess) {
  std::vector<MetricFamily> out;
  CollectProcessMetrics(&out);
  std::map<std::string, double> v;
  for (const MetricFamily& f : out) {
    ASSERT_EQ(f.samples.size(), 1u) << f.name;
    v[f.name] = f.samples[0].value;
  }
  ASSERT_EQ(v.count("process_resident_memory_bytes"), 1u);
  EXPECT_GT(v["process_resident_memory_bytes"], 1 << 20);  // a running gtest binary
  EXPECT_GE(v["process_virtual_memory_bytes"], v["process_resident_memory_bytes"]);
  EXPECT_GE(v["process_threads"], 1);
  EXPECT_GE(v["process_open_fds"], 3);  // stdin, stdout, stderr
  ASSERT_EQ(v.count("process_cpu_seconds_total"), 1u);
  EXPECT_GE(v["process_cpu_seconds_total"], 0);
  EXPECT_GT(v["process_start_time_seconds"], 1.5e9);  // after 2017
}

}  // namespace
}  // namespace synod::server::metrics
