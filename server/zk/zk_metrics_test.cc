// ZkMetrics: counts by opcode and by error code, and the same numbers in
// the Prometheus families and in the snapshot mntr reads.
#include "server/zk/zk_metrics.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "server/metrics/prometheus_text.h"
#include "server/zk/records.h"

namespace synod::zk {
namespace {

TEST(ZkMetricsTest, CountsByOpcodeAndError) {
  ZkMetrics m;
  m.ConnectionOpened();
  m.ConnectionOpened();
  m.ConnectionClosed();
  m.Request(ZkMetrics::kConnect);
  m.Request(kOpGetData);
  m.Request(kOpGetData);
  m.Request(kOpMultiRead);
  m.Request(12345);
  m.Reply(kZOk, absl::Milliseconds(2));
  m.Reply(kZNoNode, absl::Milliseconds(4));
  m.Reply(kZNoNode, absl::Milliseconds(6));
  m.Reply(-125, absl::Milliseconds(1));
  m.Reply(-4000, absl::Milliseconds(1));
  m.Notification();
  m.BytesIn(100);
  m.BytesOut(250);

  const ZkMetrics::Snapshot s = m.Take();
  EXPECT_EQ(s.connections, 1);
  EXPECT_EQ(s.packets_received, 5u);
  EXPECT_EQ(s.packets_sent, 6u);
  EXPECT_EQ(s.bytes_received, 100u);
  EXPECT_EQ(s.bytes_sent, 250u);
  EXPECT_EQ(s.min_latency_ms, 1);
  EXPECT_EQ(s.max_latency_ms, 6);
  EXPECT_DOUBLE_EQ(s.avg_latency_ms, 14.0 / 5);

  std::vector<server::metrics::MetricFamily> families;
  m.Collect(&families);
  const std::string text = server::metrics::RenderText(families);
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_connections 1\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_requests_total{op=\"getData\"} 2\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_requests_total{op=\"connect\"} 1\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_requests_total{op=\"multiRead\"} 1\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_requests_total{op=\"other\"} 1\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_errors_total{code=\"NONODE\"} 2\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_errors_total{code=\"QUOTAEXCEEDED\"} 1\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_errors_total{code=\"other\"} 1\n")) << text;
  EXPECT_FALSE(absl::StrContains(text, "code=\"OK\"")) << text;
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_packets_total{direction=\"sent\"} 6\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_bytes_total{direction=\"received\"} 100\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "synod_zk_request_duration_seconds_count 5\n")) << text;
  for (const auto& f : families) {
    EXPECT_EQ(server::metrics::ValidateFamily(f), "") << f.name;
  }
}

TEST(ZkMetricsTest, Names) {
  EXPECT_EQ(ZkOpName(kOpCloseSession), "closeSession");
  EXPECT_EQ(ZkOpName(99), "other");
  EXPECT_EQ(ZkErrorName(kZNoAuth), "NOAUTH");
  EXPECT_EQ(ZkErrorName(-9999), "-9999");
}

}  // namespace
}  // namespace synod::zk
