// Raw HTTP over loopback for tests of the replica's HTTP endpoints.
#pragma once

#include <string>

#include "absl/time/time.h"

namespace synod::testing {

// A TCP connection to 127.0.0.1:port, or -1 if refused. The caller closes it.
int ConnectLoopback(int port);

// Sends `request` as given and returns everything the server answered until
// it closed the connection ("connect failed" if it could not connect). A
// finite `guard` gives up on a silent server after that long and returns
// what came by then: it only keeps a broken server from hanging a test.
std::string HttpExchange(int port, const std::string& request,
                         absl::Duration guard = absl::InfiniteDuration());

}  // namespace synod::testing
