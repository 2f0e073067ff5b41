#include "server/metrics/metrics_http.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/http_exchange.h"

namespace synod::server::metrics {
namespace {

using ::synod::testing::ConnectLoopback;
using ::synod::testing::HttpExchange;

std::unique_ptr<MetricsHttpServer> StartServer(std::atomic<int>* calls) {
  MetricsHttpServer::Options o;
  o.addr = "127.0.0.1:0";
  o.io_timeout = absl::Milliseconds(300);
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
  EXPECT_EQ(ok,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\nx 1\n");
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

TEST(MetricsHttpTest, RefusesBadAddressesAndBusyPorts) {
  MetricsHttpServer::Options o;
  o.addr = "no-port";
  EXPECT_EQ(MetricsHttpServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.addr = "127.0.0.1:99999";
  EXPECT_EQ(MetricsHttpServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
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
