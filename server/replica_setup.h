// What a replica derives from its options before it opens anything: its
// addresses and the founding membership, whether its ports are free, and
// how a joining replica calls the members. Pure functions of the options
// (and of the certificate files they name); any thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "server/cluster_config.h"
#include "server/replica.h"

namespace synod::server {

// Resolves addresses and membership from the options. Errors:
// InvalidArgument naming the flag that disagrees.
absl::Status ResolveCluster(const ReplicaOptions& options, InitialCluster* cluster,
                            std::string* client_addr, std::string* peer_addr);

// Binds `addr` and lets it go again, so that a port held by another process
// fails start-up early, naming the address. Errors: InvalidArgument,
// Unavailable.
absl::Status CheckCanListen(const std::string& addr, const std::string& what);

// How a joining replica calls the members' client ports: plaintext unless
// it serves TLS itself; then it trusts the peer CA and the client CA and
// presents its peer certificate (docs/security.md).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> JoinCredentials(
    const ReplicaOptions& options);

}  // namespace synod::server
