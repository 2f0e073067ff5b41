// TLS certificate files of a replica's listener: checked, staged, watched.
//
// The operator's files (flags) are never handed to gRPC directly. Stage()
// checks them with OpenSSL (the certificate chain and key parse, the key
// belongs to the certificate, the CA parses; for the peer port the
// certificate must also be signed by the CA) and only then copies them into
// a directory of the replica's own: the key and the chain into one file
// (one rename, so a reader never sees a new certificate with an old key),
// the CA into another. gRPC's FileWatcherCertificateProvider watches those
// copies, so a new certificate that passed the checks is used for new
// connections within kTlsRefresh of Stage(); one that fails them leaves the
// copies, and so the certificate in use, as they were.
//
// Thread: Stage may be called from any thread, one call at a time (the
// start-up thread, then the signal thread on SIGHUP).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace synod::server {

// How often gRPC re-reads the staged copies.
inline constexpr absl::Duration kTlsRefresh = absl::Seconds(1);

// PEM file paths as the operator gives them.
struct TlsFiles {
  std::string cert;  // certificate chain, leaf first
  std::string key;
  std::string ca;  // empty: none (the client port without client certificates)
};

// Whether the client port asks clients for a certificate
// (--tls_client_auth): kRequest verifies one if sent, kRequire refuses a
// client without one.
enum class ClientAuth { kNone, kRequest, kRequire };
// "none" | "request" | "require". Errors: InvalidArgument.
absl::StatusOr<ClientAuth> ParseClientAuth(std::string_view text);

// The OpenSSL checks Stage() makes. `signed_by_ca`: the certificate must
// verify against files.ca. Errors: InvalidArgument (saying which file and
// why).
absl::Status CheckTlsFiles(const TlsFiles& files, bool signed_by_ca);

class StagedTlsFiles {
 public:
  // `dir` (created by Stage) holds the copies; `what` names the listener in
  // messages ("client port", "peer port"). `also_trusted_ca` (a PEM file,
  // used only with source.ca) is trusted next to source.ca: the client port
  // also takes the replicas' peer certificates, which a replica started
  // with --join presents (join.h).
  StagedTlsFiles(std::string what, TlsFiles source, std::string dir, bool signed_by_ca,
                 std::string also_trusted_ca = "");

  // Checks the source files and, if they pass, replaces the copies.
  // Errors: InvalidArgument (a check failed: the copies are unchanged),
  // Internal (I/O).
  absl::Status Stage();

  const std::string& what() const { return what_; }
  // The staged copies: `identity` holds the key and the chain.
  std::string identity_path() const { return dir_ + "/identity.pem"; }
  std::string ca_path() const { return dir_ + "/ca.pem"; }
  bool has_ca() const { return !source_.ca.empty(); }

 private:
  const std::string what_;
  const TlsFiles source_;
  const std::string dir_;
  const bool signed_by_ca_;
  const std::string also_trusted_ca_;
};

// Server credentials that present the staged identity and, unless `auth` is
// kNone, verify client certificates against the staged CA.
std::shared_ptr<grpc::ServerCredentials> WatchedServerCredentials(const StagedTlsFiles& files,
                                                                  ClientAuth auth);

// Channel credentials that verify the server against the staged CA and
// present the staged identity (mutual TLS between replicas).
std::shared_ptr<grpc::ChannelCredentials> WatchedChannelCredentials(const StagedTlsFiles& files);

// Whether `addr` (host:port) names only this host: a loopback address or
// "localhost". An empty host (":port", all interfaces) is not.
bool IsLoopbackAddress(const std::string& addr);

// The listeners reachable from other hosts without TLS, for the start-up
// warning ("clients on A and peers on B and ZooKeeper clients on C"; empty
// when none): the client and peer ports unless they use TLS, and the
// ZooKeeper port (`zk_addr`, empty when off), which has no TLS.
std::string PlaintextListeners(const std::string& client_addr, bool client_tls,
                               const std::string& peer_addr, bool peer_tls,
                               const std::string& zk_addr);

}  // namespace synod::server
