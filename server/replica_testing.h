// What the in-process tests of a whole replica share: the options of a
// single-member synod on free loopback ports, its data under a test's
// temporary dir, with fast elections and a small cache.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/replica.h"
#include "tests/testing/free_port.h"
#include "tests/testing/temp_dir.h"

namespace synod::server {

inline ReplicaOptions SingleReplicaOptions(const testing::TempDir& dir) {
  ReplicaOptions options;
  options.id = 1;
  options.data_dir = dir.Sub("data");
  options.client_addr = absl::StrCat("127.0.0.1:", testing::FreePort());
  options.peer_addr = absl::StrCat("127.0.0.1:", testing::FreePort());
  options.heartbeat = absl::Milliseconds(20);
  options.election_timeout = absl::Milliseconds(200);
  options.cache_bytes = 8 << 20;
  return options;
}

}  // namespace synod::server
