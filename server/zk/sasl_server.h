// ZkSaslServer: the server side of one ZooKeeper connection's SASL
// exchange (sasl op 102), DIGEST-MD5 through Cyrus SASL, checked against
// the users of --zk_sasl_users (never /etc/sasldb2: Synod registers its own
// auxprop plugin, the only one it lets Cyrus use).
//
// ZooKeeper's client names the service "zookeeper" on the host
// "zk-sasl-server" (ZooKeeperSaslClient, for every mechanism but GSSAPI);
// the server offers the same names and realm, and only quality of
// protection "auth": ZooKeeper never wraps its packets.
//
// Promises: at most kMaxSaslSteps tokens per exchange; one exchange per
// object (a second one after the first ended is refused); the Cyrus
// connection is freed with the object. An Evaluate that fails leaves the
// object finished: every later call fails too.
//
// Thread: one object is used by one thread at a time (the listener thread
// of its connection). InitSaslServer is thread-safe.
#pragma once

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "server/zk/sasl_users.h"

typedef struct sasl_conn sasl_conn_t;

namespace synod::zk {

// Tokens one exchange may take (DIGEST-MD5 takes two).
inline constexpr int kMaxSaslSteps = 4;

// Initialises Cyrus SASL for this process once (its plugins from the
// system's sasl2 directory, the users auxprop plugin); later calls return
// the first call's result. Internal if Cyrus or its DIGEST-MD5 plugin
// (libsasl2-modules) is missing.
absl::Status InitSaslServer();

class ZkSaslServer {
 public:
  // `users` must outlive the object. Calls InitSaslServer. Internal if
  // Cyrus fails to make a connection.
  static absl::StatusOr<std::unique_ptr<ZkSaslServer>> Create(const SaslUsers* users);
  ~ZkSaslServer();
  ZkSaslServer(const ZkSaslServer&) = delete;
  ZkSaslServer& operator=(const ZkSaslServer&) = delete;

  struct Step {
    // The token to send back (may be empty).
    std::string challenge;
    // True once the client proved it knows `user`'s password.
    bool complete = false;
    std::string user;
  };
  // One client token (the first may be empty: DIGEST-MD5's client speaks
  // second). Unauthenticated: a wrong password, an unknown user, a
  // malformed token. FailedPrecondition: the exchange already ended or
  // took kMaxSaslSteps tokens. The message never holds a password.
  absl::StatusOr<Step> Evaluate(absl::string_view token);

 private:
  ZkSaslServer(sasl_conn_t* conn, const SaslUsers* users) : conn_(conn), users_(users) {}

  sasl_conn_t* const conn_;
  const SaslUsers* const users_;
  int steps_ = 0;
  bool finished_ = false;
};

}  // namespace synod::zk
