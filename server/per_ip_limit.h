// Per client IP limits: what one address may hold open on a replica at once
// (ZooKeeper's maxClientCnxns), so that one client host cannot exhaust it.
//
// ClientIp / SockaddrIp: the client address of a gRPC peer string
// (grpc::ServerContextBase::peer()) or of an accepted socket, in one
// canonical text form, so that every front end counts an address under the
// same key: an IPv4-mapped IPv6 address ("::ffff:10.0.0.1", what a
// dual-stack listener sees) counts as its IPv4 address, IPv6 addresses are
// in inet_ntop's form, and every Unix-domain client counts as "unix".
//
// PerIpLimiter counts what each address holds (streams, connections);
// Acquire refuses the one over the limit with ResourceExhausted, and
// counts and logs the refusal (one warning line per 10 s at most, with the
// number held back). A granted PerIpSlot gives its unit back exactly once:
// when it is destroyed or released, whichever comes first.
//
// Thread: any thread; PerIpLimiter's counts are guarded by its mutex. A
// slot is used by one thread at a time (its owner) and must not outlive
// its limiter.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/log_throttle.h"

namespace synod::server {

// "ipv4:1.2.3.4:5678" -> "1.2.3.4"; "ipv6:[::1]:5678" (also with the
// brackets percent-encoded, "ipv6:%5B::1%5D:5678") -> "::1";
// "ipv6:[::ffff:1.2.3.4]:5678" -> "1.2.3.4"; "unix:/path",
// "unix-abstract:name" -> "unix". Errors: InvalidArgument (an unknown
// scheme, no port, an address that does not parse).
absl::StatusOr<std::string> ClientIp(std::string_view peer);

// The address of `addr` (from accept), normalized as ClientIp. Errors:
// InvalidArgument (neither AF_INET nor AF_INET6, or too short).
absl::StatusOr<std::string> SockaddrIp(const sockaddr* addr, socklen_t len);

class PerIpLimiter;

// One unit (a stream, a connection) counted against its address. Move-only;
// an empty slot (default, or one from a limiter with no limit) counts
// nothing.
class PerIpSlot {
 public:
  PerIpSlot() = default;
  PerIpSlot(PerIpSlot&& other) noexcept;
  PerIpSlot& operator=(PerIpSlot&& other) noexcept;
  PerIpSlot(const PerIpSlot&) = delete;
  PerIpSlot& operator=(const PerIpSlot&) = delete;
  ~PerIpSlot() { Release(); }

  // Gives the unit back now; later calls (and the destructor) do nothing.
  void Release();
  bool held() const { return limiter_ != nullptr; }

 private:
  friend class PerIpLimiter;
  PerIpSlot(PerIpLimiter* limiter, std::string ip) : limiter_(limiter), ip_(std::move(ip)) {}

  PerIpLimiter* limiter_ = nullptr;  // null: holds nothing
  std::string ip_;
};

class PerIpLimiter {
 public:
  struct Options {
    // Most units one address may hold; 0: no limit (nothing is counted).
    size_t max_per_ip = 0;
    // What is counted and which setting bounds it, for the refusal's
    // message and log line: "streams", "--max_streams_per_ip".
    std::string what = "connections";
    std::string setting;
    // Called on every refusal, on the refusing thread (a metric counter).
    std::function<void()> on_refused;
  };

  explicit PerIpLimiter(Options options);
  PerIpLimiter(const PerIpLimiter&) = delete;
  PerIpLimiter& operator=(const PerIpLimiter&) = delete;

  // A unit for `ip` (a ClientIp / SockaddrIp result). Errors:
  // ResourceExhausted when `ip` already holds max_per_ip; the message names
  // the address, the limit and its setting.
  absl::StatusOr<PerIpSlot> Acquire(const std::string& ip);
  // Acquire for a gRPC peer string: a peer whose address does not parse is
  // counted under "unknown" (one shared count, so it cannot escape the
  // limit). A null limiter grants an empty slot.
  static absl::StatusOr<PerIpSlot> AcquireForPeer(PerIpLimiter* limiter, std::string_view peer);

  // Units `ip` holds now.
  size_t open(const std::string& ip) const;
  size_t max_per_ip() const { return options_.max_per_ip; }

 private:
  friend class PerIpSlot;
  void Release(const std::string& ip);

  const Options options_;
  mutable absl::Mutex mu_;
  // Addresses holding at least one unit (an entry is erased at zero, so the
  // map is bounded by the units held).
  absl::flat_hash_map<std::string, size_t> open_ ABSL_GUARDED_BY(mu_);
  base::LogThrottle log_throttle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::server
