// Helpers for tests that connect synod::Client to a FakeCluster.
#pragma once

#include <memory>

#include "client/testing/fake_cluster.h"
#include "synod/client.h"

namespace synod::client::testing {

// Options for a client of `cluster`: starts on member 1 (tests know who
// serves), short backoffs and a short session timeout, so fault tests run
// fast.
Client::Options FakeClientOptions(const FakeCluster& cluster);

// Connects or aborts the test binary (a test cannot go on without it).
std::unique_ptr<Client> ConnectOrDie(Client::Options options);

}  // namespace synod::client::testing
