#include "server/per_ip_limit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace synod::server {
namespace {

std::string IpOf(std::string_view peer) {
  absl::StatusOr<std::string> ip = ClientIp(peer);
  EXPECT_TRUE(ip.ok()) << peer << ": " << ip.status();
  return ip.ok() ? *ip : "";
}

TEST(ClientIpTest, ParsesTheForms) {
  EXPECT_EQ(IpOf("ipv4:10.1.2.3:5678"), "10.1.2.3");
  EXPECT_EQ(IpOf("ipv4:127.0.0.1:1"), "127.0.0.1");
  EXPECT_EQ(IpOf("ipv6:[::1]:443"), "::1");
  EXPECT_EQ(IpOf("ipv6:%5B::1%5D:443"), "::1");
  EXPECT_EQ(IpOf("ipv6:%5b2001:db8::7%5d:443"), "2001:db8::7");
  // One address, one key: inet_ntop's form, mapped IPv4 as IPv4, no zone.
  EXPECT_EQ(IpOf("ipv6:[2001:0db8:0:0::7]:1"), "2001:db8::7");
  EXPECT_EQ(IpOf("ipv6:[::ffff:10.1.2.3]:9"), "10.1.2.3");
  EXPECT_EQ(IpOf("ipv6:[fe80::1%25eth0]:9"), "fe80::1");
  EXPECT_EQ(IpOf("unix:/run/synod.sock"), "unix");
  EXPECT_EQ(IpOf("unix-abstract:synod"), "unix");
}

TEST(ClientIpTest, RefusesWhatIsNotAnAddress) {
  for (std::string_view peer : {"", "10.1.2.3:5678", "ipv4:10.1.2.3", "ipv4:10.1.2.3:",
                                "ipv4:10.1.2.3:x1", "ipv4:300.1.2.3:5", "ipv4:[::1]:5",
                                "ipv6:::1:5", "ipv6:[::1]", "ipv6:[zz::1]:5", "vsock:3:5"}) {
    absl::StatusOr<std::string> ip = ClientIp(peer);
    EXPECT_EQ(ip.status().code(), absl::StatusCode::kInvalidArgument) << peer;
  }
}

TEST(SockaddrIpTest, NormalizesAsClientIp) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "192.0.2.5", &v4.sin_addr);
  EXPECT_EQ(*SockaddrIp(reinterpret_cast<sockaddr*>(&v4), sizeof(v4)), "192.0.2.5");

  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:192.0.2.5", &v6.sin6_addr);
  EXPECT_EQ(*SockaddrIp(reinterpret_cast<sockaddr*>(&v6), sizeof(v6)), "192.0.2.5");
  inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
  EXPECT_EQ(*SockaddrIp(reinterpret_cast<sockaddr*>(&v6), sizeof(v6)), "2001:db8::1");
  // Too short for its family.
  EXPECT_FALSE(SockaddrIp(reinterpret_cast<sockaddr*>(&v6), sizeof(v4)).ok());

  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_EQ(SockaddrIp(reinterpret_cast<sockaddr*>(&un), sizeof(un)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

PerIpLimiter::Options Limit(size_t max, int* refused) {
  PerIpLimiter::Options o;
  o.max_per_ip = max;
  o.what = "streams";
  o.setting = "--max_streams_per_ip";
  o.on_refused = [refused] { ++*refused; };
  return o;
}

TEST(PerIpLimiterTest, RefusesTheOneOverTheLimitUntilOneIsReleased) {
  int refused = 0;
  PerIpLimiter limiter(Limit(2, &refused));
  absl::StatusOr<PerIpSlot> a = limiter.Acquire("10.0.0.1");
  absl::StatusOr<PerIpSlot> b = limiter.Acquire("10.0.0.1");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->held());
  EXPECT_EQ(limiter.open("10.0.0.1"), 2u);

  absl::StatusOr<PerIpSlot> c = limiter.Acquire("10.0.0.1");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(c.status().message(),
            "too many streams from 10.0.0.1: at most 2 per client IP (--max_streams_per_ip)");
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(limiter.open("10.0.0.1"), 2u);

  // Another address has its own count.
  absl::StatusOr<PerIpSlot> other = limiter.Acquire("10.0.0.2");
  EXPECT_TRUE(other.ok());

  a->Release();
  EXPECT_EQ(limiter.open("10.0.0.1"), 1u);
  absl::StatusOr<PerIpSlot> d = limiter.Acquire("10.0.0.1");
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(refused, 1);
}

TEST(PerIpLimiterTest, ASlotGivesItsUnitBackExactlyOnce) {
  int refused = 0;
  PerIpLimiter limiter(Limit(3, &refused));
  {
    PerIpSlot kept;
    {
      PerIpSlot first = *limiter.Acquire("h");
      PerIpSlot second = *limiter.Acquire("h");
      EXPECT_EQ(limiter.open("h"), 2u);
      second.Release();
      second.Release();  // nothing more
      EXPECT_EQ(limiter.open("h"), 1u);
      kept = std::move(first);     // the unit moves; `first` holds nothing
      EXPECT_FALSE(first.held());  // NOLINT(bugprone-use-after-move): checked on purpose
    }
    EXPECT_EQ(limiter.open("h"), 1u);
    // Assigning over a held slot gives back what it held.
    kept = *limiter.Acquire("h");
    EXPECT_EQ(limiter.open("h"), 1u);
  }
  EXPECT_EQ(limiter.open("h"), 0u);
  EXPECT_EQ(refused, 0);
}

TEST(PerIpLimiterTest, ZeroMeansNoLimitAndCountsNothing) {
  int refused = 0;
  PerIpLimiter limiter(Limit(0, &refused));
  std::vector<PerIpSlot> slots;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<PerIpSlot> s = limiter.Acquire("h");
    ASSERT_TRUE(s.ok());
    slots.push_back(*std::move(s));
  }
  EXPECT_EQ(limiter.open("h"), 0u);
  EXPECT_EQ(refused, 0);
}

TEST(PerIpLimiterTest, AcquireForPeer) {
  int refused = 0;
  PerIpLimiter limiter(Limit(1, &refused));
  // Two connections of one host (different ports, and its mapped form).
  absl::StatusOr<PerIpSlot> a = PerIpLimiter::AcquireForPeer(&limiter, "ipv4:10.0.0.1:1000");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(PerIpLimiter::AcquireForPeer(&limiter, "ipv6:[::ffff:10.0.0.1]:1001").status().code(),
            absl::StatusCode::kResourceExhausted);
  // Peers that do not parse share one count instead of escaping the limit.
  absl::StatusOr<PerIpSlot> odd = PerIpLimiter::AcquireForPeer(&limiter, "vsock:1:2");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(limiter.open("unknown"), 1u);
  EXPECT_FALSE(PerIpLimiter::AcquireForPeer(&limiter, "other:1:2").ok());
  EXPECT_EQ(refused, 2);
  // No limiter: no limit.
  absl::StatusOr<PerIpSlot> free = PerIpLimiter::AcquireForPeer(nullptr, "ipv4:10.0.0.1:1");
  ASSERT_TRUE(free.ok());
  EXPECT_FALSE(free->held());
}

TEST(PerIpLimiterTest, ConcurrentSlotsNeverExceedTheLimit) {
  std::atomic<int> refused{0};
  PerIpLimiter::Options o;
  o.max_per_ip = 3;
  o.on_refused = [&refused] { refused.fetch_add(1); };
  PerIpLimiter limiter(std::move(o));
  std::atomic<int> held{0};
  std::atomic<int> most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        absl::StatusOr<PerIpSlot> s = limiter.Acquire("h");
        if (!s.ok()) continue;
        const int now = held.fetch_add(1) + 1;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        held.fetch_sub(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(limiter.open("h"), 0u);
}

}  // namespace
}  // namespace synod::server
