#include "server/per_ip_limit.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "base/check.h"
#include "base/log.h"

namespace synod::server {
namespace {

constexpr absl::Duration kRefusalLogInterval = absl::Seconds(10);

std::string V4Text(const void* addr) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, addr, buf, sizeof(buf));
  return buf;
}

// An IPv6 address as text; an IPv4-mapped one as its IPv4 address.
std::string V6Text(const in6_addr& addr) {
  if (IN6_IS_ADDR_V4MAPPED(&addr)) return V4Text(&addr.s6_addr[12]);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &addr, buf, sizeof(buf));
  return buf;
}

// "host:port" -> host, where the port is all digits.
absl::StatusOr<absl::string_view> StripPort(absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos || colon + 1 == host_port.size()) {
    return absl::InvalidArgumentError("no port");
  }
  for (char c : host_port.substr(colon + 1)) {
    if (c < '0' || c > '9') return absl::InvalidArgumentError("port is not a number");
  }
  return host_port.substr(0, colon);
}

}  // namespace

absl::StatusOr<std::string> ClientIp(std::string_view peer_view) {
  // abseil's string_view is not std::string_view in this build.
  const absl::string_view peer(peer_view.data(), peer_view.size());
  auto bad = [peer](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("peer \"", peer, "\": ", why));
  };
  if (absl::StartsWith(peer, "unix:") || absl::StartsWith(peer, "unix-abstract:")) {
    return std::string("unix");
  }
  if (absl::StartsWith(peer, "ipv4:")) {
    absl::StatusOr<absl::string_view> host = StripPort(peer.substr(5));
    if (!host.ok()) return bad(host.status().message());
    in_addr addr;
    if (inet_pton(AF_INET, std::string(*host).c_str(), &addr) != 1) return bad("bad IPv4 address");
    return V4Text(&addr);
  }
  if (absl::StartsWith(peer, "ipv6:")) {
    // gRPC writes the address as a URI, which may percent-encode brackets.
    const std::string decoded = absl::StrReplaceAll(
        peer.substr(5), {{"%5B", "["}, {"%5b", "["}, {"%5D", "]"}, {"%5d", "]"}, {"%25", "%"}});
    absl::StatusOr<absl::string_view> host = StripPort(decoded);
    if (!host.ok()) return bad(host.status().message());
    if (host->size() < 2 || host->front() != '[' || host->back() != ']') {
      return bad("IPv6 address not in brackets");
    }
    std::string text(host->substr(1, host->size() - 2));
    // A link-local address's zone ("fe80::1%eth0") does not change the host.
    if (const size_t zone = text.find('%'); zone != std::string::npos) text.resize(zone);
    in6_addr addr;
    if (inet_pton(AF_INET6, text.c_str(), &addr) != 1) return bad("bad IPv6 address");
    return V6Text(addr);
  }
  return bad("not an ipv4:, ipv6: or unix: address");
}

absl::StatusOr<std::string> SockaddrIp(const sockaddr* addr, socklen_t len) {
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    return V4Text(&reinterpret_cast<const sockaddr_in*>(addr)->sin_addr);
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    return V6Text(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not an IPv4 or IPv6 socket address (family ", addr->sa_family, ")"));
}

PerIpSlot::PerIpSlot(PerIpSlot&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)), ip_(std::move(other.ip_)) {}

PerIpSlot& PerIpSlot::operator=(PerIpSlot&& other) noexcept {
  if (this != &other) {
    Release();
    limiter_ = std::exchange(other.limiter_, nullptr);
    ip_ = std::move(other.ip_);
  }
  return *this;
}

void PerIpSlot::Release() {
  if (limiter_ == nullptr) return;
  std::exchange(limiter_, nullptr)->Release(ip_);
}

PerIpLimiter::PerIpLimiter(Options options)
    : options_(std::move(options)), log_throttle_(kRefusalLogInterval) {}

absl::StatusOr<PerIpSlot> PerIpLimiter::Acquire(const std::string& ip) {
  if (options_.max_per_ip == 0) return PerIpSlot();
  bool log_line = false;
  uint64_t held_back = 0;
  {
    absl::MutexLock lock(&mu_);
    size_t& open = open_[ip];
    if (open < options_.max_per_ip) {
      ++open;
      return PerIpSlot(this, ip);
    }
    log_line = log_throttle_.Allow(absl::Now(), &held_back);
  }
  if (options_.on_refused) options_.on_refused();
  std::string message =
      absl::StrCat("too many ", options_.what, " from ", ip, ": at most ", options_.max_per_ip,
                   " per client IP (", options_.setting, ")");
  if (log_line) {
    base::Log(base::LogLevel::kWarning,
              "synod: refused: %s; %llu more refusals not logged since the last line",
              message.c_str(), static_cast<unsigned long long>(held_back));
  }
  return absl::ResourceExhaustedError(std::move(message));
}

absl::StatusOr<PerIpSlot> PerIpLimiter::AcquireForPeer(PerIpLimiter* limiter,
                                                       std::string_view peer) {
  if (limiter == nullptr) return PerIpSlot();
  absl::StatusOr<std::string> ip = ClientIp(peer);
  return limiter->Acquire(ip.ok() ? *ip : std::string("unknown"));
}

size_t PerIpLimiter::open(const std::string& ip) const {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(ip);
  return it == open_.end() ? 0 : it->second;
}

void PerIpLimiter::Release(const std::string& ip) {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(ip);
  // A slot is granted only after its count went up, and gives it back once.
  SYNOD_CHECK(it != open_.end() && it->second > 0);
  if (--it->second == 0) open_.erase(it);
}

}  // namespace synod::server
