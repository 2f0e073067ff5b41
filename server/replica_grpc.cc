// Replica's gRPC servers: the peer server (fed connections by the peer
// port's listener) and the client server with its credentials, limits and
// interceptors. Called from Replica::Start in that order.
#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/peer_listener.h"
#include "server/replica.h"
#include "server/replica_parts.h"
#include "server/tls_files.h"

namespace synod::server {

absl::Status Replica::StartPeerServer(Parts* p, uint64_t cluster_id, int max_peer_message) {
  const ReplicaOptions& options = p->options;
  // The gRPC server has no port of its own: the listener owns the peer
  // port and hands it the HTTP/2 connections (Raft links go to the raft
  // thread, see peer_listener.h).
  grpc::ServerBuilder builder;
  builder.RegisterService(p->peer_service.get());
  builder.SetMaxReceiveMessageSize(max_peer_message);
  builder.SetMaxSendMessageSize(max_peer_message);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // With TLS, the listener relays HTTP/2 connections to this loopback
  // port (peer_listener.h); only peers with a certificate get through.
  int tls_port = 0;
  if (p->peer_tls != nullptr) {
    builder.AddListeningPort("127.0.0.1:0",
                             WatchedServerCredentials(*p->peer_tls, ClientAuth::kRequire),
                             &tls_port);
  }
  p->peer_server = builder.BuildAndStart();
  if (p->peer_server == nullptr || (p->peer_tls != nullptr && tls_port == 0)) {
    return absl::InternalError("cannot start the peer gRPC server");
  }
  PeerListener::Options listen;
  listen.addr = p->peer_addr;
  listen.cluster_id = cluster_id;
  listen.self = options.id;
  listen.max_frame_bytes = static_cast<size_t>(max_peer_message);
  listen.link_tls = p->link_tls.get();
  listen.grpc_tls_addr = absl::StrCat("127.0.0.1:", tls_port);
  RaftDriver* driver = p->driver.get();
  listen.adopt_link = [driver](int fd, raft::NodeId from, std::unique_ptr<LinkTlsSession> tls) {
    driver->AdoptLink(fd, from, std::move(tls));
  };
  metrics::Counter* refused_links = p->metrics->peer_links_refused;
  listen.link_refused = [refused_links] { refused_links->Inc(); };
  absl::StatusOr<std::unique_ptr<PeerListener>> listener =
      PeerListener::Start(listen, p->peer_server.get());
  if (!listener.ok()) {
    p->peer_server->Shutdown(std::chrono::system_clock::now());
    return listener.status();
  }
  p->peer_listener = *std::move(listener);
  return absl::OkStatus();
}

absl::Status Replica::StartClientServer(Parts* p) {
  const ReplicaOptions& options = p->options;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  const TlsFiles& tls = options.client_tls;
  if (tls.cert.empty() && (!tls.key.empty() || !tls.ca.empty())) {
    return absl::InvalidArgumentError("client port TLS: a key or CA without a certificate");
  }
  if (options.client_auth != ClientAuth::kNone && tls.ca.empty()) {
    return absl::InvalidArgumentError(
        "client port TLS: asking clients for certificates needs the CA that signs them");
  }
  if (!tls.cert.empty()) {
    // With client certificates asked for, the peer CA is trusted too: a
    // replica started with --join presents its peer certificate (join.h).
    p->client_tls = std::make_unique<StagedTlsFiles>(
        "client port", options.client_tls, options.data_dir + "/tls-client",
        /*signed_by_ca=*/false,
        options.client_auth != ClientAuth::kNone ? options.peer_tls.ca : "");
    if (absl::Status s = p->client_tls->Stage(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("client port TLS: ", s.message()));
    }
    credentials = WatchedServerCredentials(*p->client_tls, options.client_auth);
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(p->client_addr, credentials);
  builder.RegisterService(p->tree_service.get());
  builder.RegisterService(p->cluster_service.get());
  builder.RegisterService(p->session_service.get());
  builder.RegisterService(p->watch_service.get());
  builder.RegisterService(p->auth_service.get());
  {
    // Requests by method and code, latencies: one hook for all services.
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> hooks;
    hooks.push_back(p->api_metrics->NewInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(hooks));
  }
  // Requests larger than this are refused by gRPC itself (RESOURCE_EXHAUSTED)
  // before they cost anything; replies can hold a page of children.
  builder.SetMaxReceiveMessageSize(options.max_request_bytes);
  builder.SetMaxSendMessageSize(std::max(64 << 20, options.max_request_bytes));
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Connections, calls and their buffers share this much memory; under
  // pressure gRPC sheds load (closes idle connections, refuses streams)
  // instead of growing.
  grpc::ResourceQuota quota("synod-clients");
  quota.Resize(options.grpc_memory_bytes);
  builder.SetResourceQuota(quota);
  p->client_server = builder.BuildAndStart();
  if (p->client_server == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for clients on ", p->client_addr, " (address in use?)"));
  }
  return absl::OkStatus();
}

}  // namespace synod::server
