#include "server/tcp_socket.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/free_port.h"

namespace synod::server {
namespace {

TEST(TcpSocketTest, SplitsHostAndPort) {
  std::string host;
  std::string port;
  ASSERT_TRUE(SplitHostPort("[::1]:9100", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, "9100");
  ASSERT_TRUE(SplitHostPort(":9100", &host, &port).ok());
  EXPECT_EQ(host, "");
  EXPECT_FALSE(SplitHostPort("host:", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("host", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("host:65536", &host, &port).ok());
}

TEST(TcpSocketTest, ListensConnectsAndMovesBytes) {
  absl::StatusOr<ListeningSocket> l = ListenTcp("127.0.0.1:0", 4, "test");
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_GT(l->port, 0);
  // A second listener on the same port fails: no SO_REUSEPORT.
  EXPECT_EQ(ListenTcp(absl::StrCat("127.0.0.1:", l->port), 4, "test").status().code(),
            absl::StatusCode::kUnavailable);
  absl::StatusOr<int> c = ConnectTcp(absl::StrCat("127.0.0.1:", l->port), absl::Seconds(5), -1);
  ASSERT_TRUE(c.ok()) << c.status();
  const int s = ::accept4(l->fd, nullptr, nullptr, SOCK_NONBLOCK);
  ASSERT_GE(s, 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  ASSERT_TRUE(SendExactly(*c, "hello", 5, deadline, -1));
  char buf[5] = {};
  ASSERT_TRUE(RecvExactly(s, buf, 5, deadline, -1));
  EXPECT_EQ(std::string(buf, 5), "hello");
  // End of stream before the count: false, promptly.
  ::close(*c);
  EXPECT_FALSE(RecvExactly(s, buf, 1, deadline, -1));
  ::close(s);
  ::close(l->fd);
}

TEST(TcpSocketTest, ConnectToNobodyFailsAndWaitsAbortOnTheAbortFd) {
  const std::string nobody = absl::StrCat("127.0.0.1:", ::synod::testing::FreePort());
  EXPECT_EQ(ConnectTcp(nobody, absl::Seconds(5), -1).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(ConnectTcp("no-port", absl::Seconds(5), -1).status().code(),
            absl::StatusCode::kInvalidArgument);

  absl::StatusOr<ListeningSocket> l = ListenTcp("127.0.0.1:0", 4, "test");
  ASSERT_TRUE(l.ok());
  absl::StatusOr<int> c = ConnectTcp(absl::StrCat("127.0.0.1:", l->port), absl::Seconds(5), -1);
  ASSERT_TRUE(c.ok());
  // Nothing ever arrives: the deadline ends the wait...
  char byte = 0;
  const absl::Time start = absl::Now();
  EXPECT_FALSE(RecvExactly(*c, &byte, 1, start + absl::Milliseconds(50), -1));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  // ...and a readable abort fd ends it at once, however far the deadline.
  const int abort_fd = ::eventfd(1, EFD_NONBLOCK);
  EXPECT_FALSE(RecvExactly(*c, &byte, 1, absl::Now() + absl::Hours(1), abort_fd));
  ::close(abort_fd);
  ::close(*c);
  ::close(l->fd);
}

}  // namespace
}  // namespace synod::server
