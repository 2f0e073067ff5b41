// FreePort: a TCP port on 127.0.0.1 that nothing listens on right now.
//
// The kernel picks an ephemeral port for a socket bound to port 0; we close
// the socket and hand the number out. Another process could take it before
// the caller binds, so callers that start servers should be ready to retry
// with a new port; ports handed out by this process are never repeated, so
// the servers of one test do not collide with each other.
//
// Thread-safe.
#pragma once

namespace synod::testing {

// Returns a free port, or aborts if the kernel gives none.
int FreePort();

}  // namespace synod::testing
