// TCP helpers shared by the replica's own listeners (the peer port, the
// metrics port) and the Raft link's sender: address parsing, listening,
// connecting with a deadline, and the socket options a latency-sensitive
// link wants.
//
// Every fd returned is close-on-exec and owned by the caller.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace synod::server {

// Splits "host:port" / "[v6]:port" / ":port". Errors: InvalidArgument.
absl::Status SplitHostPort(const std::string& addr, std::string* host, std::string* port);

struct ListeningSocket {
  int fd = -1;
  int port = 0;  // the bound port (the one chosen when `addr` asked for 0)
};
// Binds and listens on `addr` (SO_REUSEADDR, no SO_REUSEPORT: a second
// replica on the same port fails here). `what` names the listener in
// errors. Errors: InvalidArgument (bad address), Unavailable (cannot bind).
absl::StatusOr<ListeningSocket> ListenTcp(const std::string& addr, int backlog,
                                          const std::string& what);

// Connects to `addr`, waiting at most `timeout`; gives up early (Cancelled)
// when `abort_fd` (>= 0) becomes readable. The socket is non-blocking and
// has TCP_NODELAY. Errors: InvalidArgument, Unavailable, DeadlineExceeded,
// Cancelled.
absl::StatusOr<int> ConnectTcp(const std::string& addr, absl::Duration timeout, int abort_fd);

// TCP_NODELAY and keepalive probes that notice a silently dead peer host in
// a few seconds (a replica must reconnect within an election timeout or so,
// not after the kernel's two hours).
void SetLinkSocketOptions(int fd);

// Sends or receives exactly `size` bytes on a non-blocking socket, waiting
// for readiness until `deadline`; false on error, end of stream, timeout, or
// `abort_fd` (>= 0) becoming readable.
bool SendExactly(int fd, const void* data, size_t size, absl::Time deadline, int abort_fd);
bool RecvExactly(int fd, void* data, size_t size, absl::Time deadline, int abort_fd);

}  // namespace synod::server
