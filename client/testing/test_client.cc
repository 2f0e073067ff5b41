#include "client/testing/test_client.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace synod::client::testing {

Client::Options FakeClientOptions(const FakeCluster& cluster) {
  Client::Options o;
  o.endpoints = cluster.endpoints();
  o.randomize_endpoints = false;
  o.request_timeout = absl::Seconds(5);
  o.attempt_timeout = absl::Seconds(2);
  o.session_timeout = absl::Milliseconds(600);
  o.initial_backoff = absl::Milliseconds(5);
  o.max_backoff = absl::Milliseconds(50);
  return o;
}

std::unique_ptr<Client> ConnectOrDie(Client::Options options) {
  absl::StatusOr<std::unique_ptr<Client>> c = Client::Connect(std::move(options));
  if (!c.ok()) {
    std::fprintf(stderr, "Client::Connect: %s\n", std::string(c.status().message()).c_str());
    std::abort();
  }
  return std::move(*c);
}

}  // namespace synod::client::testing
