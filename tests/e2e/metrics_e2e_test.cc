// End-to-end tests of --metrics_addr (issue 8): /health, /ready and
// /metrics of real replicas, the exposition checked by the reference
// Prometheus parser (tests/e2e/metrics_parse.py, python3-prometheus-client).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "synod/v1/session.grpc.pb.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

#ifndef METRICS_PARSE_PY
#error "METRICS_PARSE_PY must name tests/e2e/metrics_parse.py"
#endif

namespace synod::e2e {
namespace {

using ::synod::testing::WaitUntil;

struct HttpResult {
  int status = 0;  // 0: no answer
  std::string body;
};

// GET http://`addr``path` with a plain socket (HTTP/1.0, connection closed
// by the server), at most `timeout` per send/receive.
HttpResult HttpGet(const std::string& addr, const std::string& path) {
  HttpResult out;
  const size_t colon = addr.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(addr.substr(colon + 1), &port)) return out;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, addr.substr(0, colon).c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return out;
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\n\r\n");
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[8192];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  const size_t header_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 ", 0) != 0 || header_end == std::string::npos) return out;
  if (!absl::SimpleAtoi(response.substr(9, 3), &out.status)) out.status = 0;
  out.body = response.substr(header_end + 4);
  return out;
}

// One parsed scrape: "name{k=v,...}" -> value, as metrics_parse.py prints.
using Scrape = std::map<std::string, double>;

// Fetches /metrics from `addr` and runs it through the reference parser.
// Fails the test (and returns false) if either step fails.
bool ScrapeAndParse(const std::string& addr, const testing::TempDir& dir, Scrape* out) {
  static int n = 0;
  const HttpResult r = HttpGet(addr, "/metrics");
  EXPECT_EQ(r.status, 200) << addr << ": " << r.body;
  if (r.status != 200) return false;
  const std::string text_path = dir.Sub(absl::StrCat("scrape", ++n, ".txt"));
  const std::string parsed_path = text_path + ".parsed";
  std::ofstream(text_path) << r.body;
  testing::Subprocess::Options po;
  po.binary = "/usr/bin/python3";
  po.args = {METRICS_PARSE_PY, text_path};
  po.log_path = parsed_path;
  absl::StatusOr<testing::Subprocess> p = testing::Subprocess::Start(po);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return false;
  absl::StatusOr<int> status = p->Wait(absl::Seconds(30));
  std::stringstream parsed;
  parsed << std::ifstream(parsed_path).rdbuf();
  const bool ok = status.ok() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  EXPECT_TRUE(ok) << "the Prometheus parser refused /metrics of " << addr << ":\n"
                  << parsed.str() << "\n---- text ----\n"
                  << r.body.substr(0, 4000);
  if (!ok) return false;
  out->clear();
  for (absl::string_view line : absl::StrSplit(parsed.str(), '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    double v = 0;
    if (f.size() != 3 || !absl::SimpleAtod(f[2], &v)) {
      ADD_FAILURE() << "unexpected parser output line: " << line;
      return false;
    }
    (*out)[f[1].empty() ? f[0] : absl::StrCat(f[0], "{", f[1], "}")] = v;
  }
  return true;
}

double Get(const Scrape& s, const std::string& key) {
  auto it = s.find(key);
  return it == s.end() ? -1 : it->second;
}

int HealthStatus(TestCluster& c, int id) { return HttpGet(c.metrics_addr(id), "/health").status; }
int ReadyStatus(TestCluster& c, int id) { return HttpGet(c.metrics_addr(id), "/ready").status; }

// Lines of member `id`'s log that contain `needle`.
int CountLogLines(TestCluster& c, int id, const std::string& needle) {
  std::ifstream in(c.log_path(id));
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

std::string Logs(TestCluster& c) {
  std::string out;
  for (int id = 1; id <= c.size(); ++id) out += c.LogTail(id, 2500) + "\n";
  return out;
}

TestCluster::Options MetricsCluster() {
  TestCluster::Options o;
  o.metrics = true;
  // Sessions expire within a second here (the expiry test below).
  o.extra_flags = {"--min_session_timeout_ms=500"};
  return o;
}

TEST(MetricsE2eTest, HealthReadyAndMetricsThatMoveUnderLoad) {
  TestCluster c(MetricsCluster());
  testing::TempDir dir("synod-metrics-e2e-");
  ASSERT_TRUE(c.StartAll().ok());
  const int leader = c.WaitForLeader(absl::Seconds(15));
  ASSERT_NE(leader, 0) << Logs(c);
  for (int id = 1; id <= 3; ++id) {
    EXPECT_TRUE(WaitUntil([&] { return HealthStatus(c, id) == 200 && ReadyStatus(c, id) == 200; },
                          absl::Seconds(10)))
        << "member " << id << ": /health " << HttpGet(c.metrics_addr(id), "/health").body
        << " /ready " << HttpGet(c.metrics_addr(id), "/ready").body;
  }
  EXPECT_EQ(HttpGet(c.metrics_addr(leader), "/nope").status, 404);

  std::map<int, Scrape> before;
  for (int id = 1; id <= 3; ++id) ASSERT_TRUE(ScrapeAndParse(c.metrics_addr(id), dir, &before[id]));
  const Scrape& lb = before[leader];
  // Every family the issue asks for is there, with sane values.
  for (const char* key : {"synod_raft_term",
                          "synod_raft_leader_id",
                          "synod_raft_commit_index",
                          "synod_raft_applied_index",
                          "synod_raft_leader_changes_total",
                          "synod_raft_proposals_committed_total",
                          "synod_raft_proposals_failed_total",
                          "synod_raft_log_entries",
                          "synod_raft_snapshots_received_total",
                          "synod_raft_snapshots_sent_total{result=ok}",
                          "synod_storage_log_sync_duration_seconds_count",
                          "synod_storage_apply_batch_duration_seconds_count",
                          "synod_sessions_open",
                          "synod_watches_active",
                          "synod_tree_nodes_estimate",
                          "synod_tree_digest",
                          "synod_rocksdb_sst_files_bytes{cf=nodes}",
                          "synod_rocksdb_live_data_bytes{cf=history}",
                          "synod_rocksdb_memtable_bytes{cf=nodes}",
                          "synod_rocksdb_pending_compaction_bytes{cf=nodes}",
                          "synod_rocksdb_running_compactions",
                          "process_resident_memory_bytes",
                          "process_cpu_seconds_total",
                          "synod_raft_role{role=leader}"}) {
    EXPECT_GE(Get(lb, key), 0) << key << " missing on the leader";
  }
  EXPECT_EQ(Get(lb, "synod_raft_role{role=leader}"), 1);
  EXPECT_EQ(Get(lb, "synod_raft_leader_id"), leader);
  EXPECT_GT(Get(lb, "process_resident_memory_bytes"), 1 << 20);
  for (int id = 1; id <= 3; ++id) {
    EXPECT_EQ(Get(before[id], "synod_raft_leader_id"), leader) << id;
    EXPECT_EQ(Get(before[id], "synod_raft_members{kind=voter}"), 3) << id;
    if (id != leader) {
      EXPECT_EQ(Get(before[id], "synod_raft_role{role=follower}"), 1) << id;
    }
  }

  // A bounded load of writes to the leader.
  const std::string create_ok = "synod_api_requests_total{code=OK,method=/synod.v1.Tree/Create}";
  const std::string create_count =
      "synod_api_request_duration_seconds_count{method=/synod.v1.Tree/Create}";
  constexpr int kWrites = 150;
  int ok = 0;
  for (int i = 0; i < kWrites; ++i) {
    if (CreateNode(c.tree(leader), absl::StrCat("/m", i), "v") == v1::OK) ++ok;
  }
  ASSERT_GE(ok, kWrites - 5) << Logs(c);
  ASSERT_TRUE(c.WaitForApplied(static_cast<uint64_t>(Get(lb, "synod_raft_commit_index")) + ok,
                               absl::Seconds(10)));
  std::map<int, Scrape> after;
  for (int id = 1; id <= 3; ++id) ASSERT_TRUE(ScrapeAndParse(c.metrics_addr(id), dir, &after[id]));
  const Scrape& la = after[leader];
  EXPECT_EQ(Get(la, create_ok) - std::max(0.0, Get(lb, create_ok)), ok);
  EXPECT_GE(Get(la, create_count) - std::max(0.0, Get(lb, create_count)), kWrites);
  EXPECT_GE(Get(la, "synod_raft_proposals_committed_total") -
                Get(lb, "synod_raft_proposals_committed_total"),
            ok);
  EXPECT_GT(Get(la, "synod_storage_log_sync_duration_seconds_count"),
            Get(lb, "synod_storage_log_sync_duration_seconds_count"));
  for (int id = 1; id <= 3; ++id) {
    EXPECT_GE(
        Get(after[id], "synod_raft_commit_index") - Get(before[id], "synod_raft_commit_index"), ok)
        << id;
    EXPECT_GE(
        Get(after[id], "synod_raft_applied_index") - Get(before[id], "synod_raft_applied_index"),
        ok)
        << id;
    EXPECT_GT(Get(after[id], "synod_storage_apply_batch_duration_seconds_count"),
              Get(before[id], "synod_storage_apply_batch_duration_seconds_count"))
        << id;
    // Members of one healthy cluster refuse nothing of each other.
    EXPECT_EQ(Get(after[id], "synod_peer_refused_total{what=raft_link}"), 0) << id;
    EXPECT_EQ(Get(after[id], "synod_peer_refused_total{what=peer_rpc}"), 0) << id;
  }
}

TEST(MetricsE2eTest, CutOffReplicaIsUnhealthyAndSurvivorsStayHealthyAfterLeaderStops) {
  TestCluster c(MetricsCluster());
  testing::TempDir dir("synod-metrics-e2e-");
  ASSERT_TRUE(c.StartAll().ok());
  const int leader = c.WaitForLeader(absl::Seconds(15));
  ASSERT_NE(leader, 0) << Logs(c);

  // A follower cut off from both peers loses its leader within an election
  // timeout or two: /health (and so /ready) answer 503 with a reason.
  const int cut = leader % 3 + 1;
  std::set<int> others = {1, 2, 3};
  others.erase(cut);
  c.Isolate(cut, others);
  EXPECT_TRUE(WaitUntil([&] { return HealthStatus(c, cut) == 503 || ReadyStatus(c, cut) == 503; },
                        absl::Seconds(10)))
      << Logs(c);
  const HttpResult why = HttpGet(c.metrics_addr(cut), "/health");
  EXPECT_NE(why.body.find("no known leader"), std::string::npos) << why.body;
  c.Isolate(cut, {});
  EXPECT_TRUE(WaitUntil([&] { return HealthStatus(c, cut) == 200 && ReadyStatus(c, cut) == 200; },
                        absl::Seconds(15)))
      << Logs(c);

  // A session that is never refreshed expires: one log line per replica,
  // and the counter says so.
  auto sessions = v1::Session::NewStub(c.channel(leader));
  v1::OpenSessionRequest open;
  open.set_timeout_ms(500);
  v1::OpenSessionResponse opened;
  ASSERT_TRUE(sessions->Open(Ctx().get(), open, &opened).ok());
  const std::string expired_line =
      absl::StrCat("event=session_expired session=", opened.session_id(), " ");
  for (int id = 1; id <= 3; ++id) {
    EXPECT_TRUE(
        WaitUntil([&] { return CountLogLines(c, id, expired_line) == 1; }, absl::Seconds(10)))
        << "member " << id << "\n"
        << c.LogTail(id);
    Scrape s;
    ASSERT_TRUE(ScrapeAndParse(c.metrics_addr(id), dir, &s));
    EXPECT_EQ(Get(s, "synod_sessions_expired_total"), 1) << id;
  }

  // Stop the leader: the other two elect a new one and stay healthy; each
  // logged one event=leader_change line per new leader it counted.
  const int current = c.WaitForLeader(absl::Seconds(10));
  ASSERT_NE(current, 0) << Logs(c);
  std::set<int> survivors;
  for (int id = 1; id <= 3; ++id) {
    if (id != current) survivors.insert(id);
  }
  EXPECT_EQ(c.Stop(current), "exit 0");
  const int next = c.WaitForLeader(absl::Seconds(15), survivors);
  ASSERT_NE(next, 0) << Logs(c);
  ASSERT_NE(next, current);
  for (int id : survivors) {
    EXPECT_TRUE(WaitUntil([&] { return HealthStatus(c, id) == 200; }, absl::Seconds(10)))
        << "member " << id << ": " << HttpGet(c.metrics_addr(id), "/health").body;
    Scrape s;
    ASSERT_TRUE(ScrapeAndParse(c.metrics_addr(id), dir, &s));
    EXPECT_EQ(Get(s, "synod_raft_leader_id"), next) << id;
    EXPECT_GE(Get(s, "synod_raft_leader_changes_total"), 2) << id;
    EXPECT_EQ(Get(s, "synod_raft_leader_changes_total"),
              CountLogLines(c, id, "event=leader_change "))
        << "member " << id << "\n"
        << c.LogTail(id);
  }
  EXPECT_EQ(HttpGet(c.metrics_addr(current), "/health").status, 0);  // stopped: nothing listens
}

}  // namespace
}  // namespace synod::e2e
