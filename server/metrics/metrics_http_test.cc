#include "server/metrics/metrics_http.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/http_exchange.h"

namespace synod::server::metrics {
namespace {

using ::synod::testing::ConnectLoopback;
using ::synod::testing::HttpExchange;

std::unique_ptr<MetricsHttpServer> StartServer(std::atomic<int>* calls,
                                               absl::Duration io_timeout = absl::Milliseconds(300),
                                               size_t big_body = 0) {
  MetricsHttpServer::Options o;
  o.addr = "127.0.0.1:0";
  o.io_timeout = io_timeout;
  if (big_body > 0) {
    o.handlers["/big"] = [big_body] {
      HttpResponse r;
      r.body.assign(big_body, 'x');
      return r;
    };
  }
  o.handlers["/metrics"] = [calls] {
    ++*calls;
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = "x 1\n";
    return r;
  };
  o.handlers["/health"] = [] {
    HttpResponse r;
    r.status = 503;
    r.body = "no known leader\n";
    return r;
  };
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> s = MetricsHttpServer::Start(std::move(o));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(MetricsHttpTest, ServesRegisteredPaths) {
  std::atomic<int> calls{0};
  auto server = StartServer(&calls);
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  const std::string ok =
      HttpExchange(server->port(), "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  const size_t head_end = ok.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << ok;
  const std::string head = ok.substr(0, head_end + 2);
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nContent-Type: text/plain; version=0.0.4\r\n"), std::string::npos)
      << head;
  EXPECT_NE(head.find("\r\nContent-Length: 4\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos) << head;
  EXPECT_EQ(ok.substr(head_end + 4), "x 1\n");
  EXPECT_EQ(calls.load(), 1);
  const std::string unhealthy = HttpExchange(server->port(), "GET /health HTTP/1.0\r\n\r\n");
  EXPECT_EQ(unhealthy.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << unhealthy;
  EXPECT_NE(unhealthy.find("\r\n\r\nno known leader\n"), std::string::npos);
}

TEST(MetricsHttpTest, AnswersErrorsAndHead) {
  std::atomic<int> calls{0};
  auto server = StartServer(&calls);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(HttpExchange(server->port(), "GET /nope HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 ", 0),
            0u);
  EXPECT_EQ(
      HttpExchange(server->port(), "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405 ", 0), 0u);
  EXPECT_EQ(HttpExchange(server->port(), "garbage\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  const std::string head = HttpExchange(server->port(), "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(head.find("Content-Length: 4\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");  // no body
  EXPECT_EQ(calls.load(), 1);
}

TEST(MetricsHttpTest, SilentClientIsDroppedAndOthersAreServed) {
  std::atomic<int> calls{0};
  auto server = StartServer(&calls);
  ASSERT_NE(server, nullptr);
  const int silent = ConnectLoopback(server->port());
  ASSERT_GE(silent, 0);
  EXPECT_EQ(HttpExchange(server->port(), "GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0),
            0u);
  ::close(silent);
  EXPECT_EQ(calls.load(), 1);
}

// A client that connects and sends nothing holds the server for up to
// io_timeout (an hour here); a second scrape is answered meanwhile.
TEST(MetricsHttpTest, SilentClientDoesNotHoldUpAScrape) {
  std::atomic<int> calls{0};
  auto server = StartServer(&calls, absl::Hours(1));
  ASSERT_NE(server, nullptr);
  const int silent = ConnectLoopback(server->port());
  ASSERT_GE(silent, 0);
  const std::string scrape =
      HttpExchange(server->port(), "GET /metrics HTTP/1.1\r\n\r\n", absl::Seconds(20));
  EXPECT_EQ(scrape.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << scrape;
  EXPECT_EQ(calls.load(), 1);
  ::close(silent);
}

// A client that asks for a large body and never reads it holds the server
// while the kernel buffers are full; a second scrape is answered meanwhile.
TEST(MetricsHttpTest, ClientThatDoesNotReadDoesNotHoldUpAScrape) {
  std::atomic<int> calls{0};
  auto server = StartServer(&calls, absl::Hours(1), 64 << 20);
  ASSERT_NE(server, nullptr);
  const int slow = ConnectLoopback(server->port());
  ASSERT_GE(slow, 0);
  const std::string request = "GET /big HTTP/1.1\r\n\r\n";
  ASSERT_EQ(::send(slow, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  const std::string scrape =
      HttpExchange(server->port(), "GET /metrics HTTP/1.1\r\n\r\n", absl::Seconds(20));
  EXPECT_EQ(scrape.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << scrape;
  EXPECT_EQ(calls.load(), 1);
  ::close(slow);
}

int ThreadsNamed(const std::string& name) {
  int n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) ++n;
  }
  return n;
}

// However many clients connect, the server runs its accept thread and
// `threads` workers; once the stuck clients leave, scrapes are served.
TEST(MetricsHttpTest, ThreadsAreBoundedAndNamed) {
  MetricsHttpServer::Options o;
  o.addr = "127.0.0.1:0";
  o.io_timeout = absl::Hours(1);
  o.threads = 3;
  o.handlers["/metrics"] = [] { return HttpResponse{200, "text/plain", "x 1\n"}; };
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server = MetricsHttpServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<int> silent;
  for (int i = 0; i < 10; ++i) {
    silent.push_back(ConnectLoopback((*server)->port()));
    ASSERT_GE(silent.back(), 0);
  }
  EXPECT_EQ(ThreadsNamed("synod-metrics"), 4);
  for (int fd : silent) ::close(fd);
  EXPECT_EQ(HttpExchange((*server)->port(), "GET /metrics HTTP/1.1\r\n\r\n", absl::Seconds(20))
                .rfind("HTTP/1.1 200 OK\r\n", 0),
            0u);
  (*server)->Stop();
  EXPECT_EQ(ThreadsNamed("synod-metrics"), 0);
}

TEST(MetricsHttpTest, RefusesBadAddressesAndBusyPorts) {
  MetricsHttpServer::Options o;
  o.addr = "no-port";
  EXPECT_EQ(MetricsHttpServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.addr = "127.0.0.1:99999";
  EXPECT_EQ(MetricsHttpServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.addr = "127.0.0.1:0";
  o.threads = 0;
  EXPECT_EQ(MetricsHttpServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.threads = 1;
  std::atomic<int> calls{0};
  auto server = StartServer(&calls);
  ASSERT_NE(server, nullptr);
  o.addr = "127.0.0.1:" + std::to_string(server->port());
  EXPECT_EQ(MetricsHttpServer::Start(o).status().code(), absl::StatusCode::kUnavailable);
}

TEST(MetricsHttpTest, StopsWhileIdle) {
  std::atomic<int> calls{0};
  auto server = StartServer(&calls);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  server->Stop();
  server->Stop();  // idempotent
  EXPECT_EQ(ConnectLoopback(port), -1);
}

}  // namespace
}  // namespace synod::server::metrics
