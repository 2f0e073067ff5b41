#include "server/replica_setup.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/tcp_socket.h"

namespace synod::server {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> JoinCredentials(
    const ReplicaOptions& options) {
  if (options.client_tls.cert.empty()) return grpc::InsecureChannelCredentials();
  auto read = [](const std::string& path, std::string* out) {
    if (path.empty()) return absl::OkStatus();
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) bytes.clear();
    if (bytes.empty()) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
    if (bytes.back() != '\n') bytes.push_back('\n');
    *out += bytes;
    return absl::OkStatus();
  };
  grpc::SslCredentialsOptions ssl;
  for (const std::string* path : {&options.peer_tls.ca, &options.client_tls.ca}) {
    if (absl::Status s = read(*path, &ssl.pem_root_certs); !s.ok()) return s;
  }
  if (ssl.pem_root_certs.empty()) {
    return absl::InvalidArgumentError(
        "--join to members serving TLS needs --peer_tls_ca or --tls_client_ca to verify them");
  }
  if (absl::Status s = read(options.peer_tls.cert, &ssl.pem_cert_chain); !s.ok()) return s;
  if (absl::Status s = read(options.peer_tls.key, &ssl.pem_private_key); !s.ok()) return s;
  return grpc::SslCredentials(ssl);
}

absl::Status ResolveCluster(const ReplicaOptions& options, InitialCluster* cluster,
                            std::string* client_addr, std::string* peer_addr) {
  std::string spec = options.initial_cluster;
  if (spec.empty()) {
    spec = absl::StrCat(options.id, "=",
                        options.peer_addr.empty() ? "127.0.0.1:7101" : options.peer_addr, "/",
                        options.client_addr.empty() ? "127.0.0.1:7001" : options.client_addr);
  }
  absl::StatusOr<InitialCluster> parsed = ParseInitialCluster(spec);
  if (!parsed.ok()) return parsed.status();
  *cluster = *std::move(parsed);
  auto self = std::find_if(cluster->members.begin(), cluster->members.end(),
                           [&](const v1::Member& m) { return m.id() == options.id; });
  if (self == cluster->members.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--id=", options.id, " is not in --initial_cluster=", spec));
  }
  *peer_addr = options.peer_addr.empty() ? self->peer_addr() : options.peer_addr;
  if (*peer_addr != self->peer_addr()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--peer_addr=", *peer_addr, " but --initial_cluster gives member ", options.id,
                     " the peer address ", self->peer_addr()));
  }
  *client_addr = !options.client_addr.empty()   ? options.client_addr
                 : !self->client_addr().empty() ? self->client_addr()
                                                : "127.0.0.1:7001";
  if (self->client_addr().empty()) self->set_client_addr(*client_addr);
  return absl::OkStatus();
}

absl::Status CheckCanListen(const std::string& addr, const std::string& what) {
  absl::StatusOr<ListeningSocket> probe = ListenTcp(addr, 1, what);
  if (!probe.ok()) return probe.status();
  ::close(probe->fd);
  return absl::OkStatus();
}

}  // namespace synod::server
