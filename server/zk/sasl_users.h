// The SASL users of the ZooKeeper port (--zk_sasl_users): read from the JAAS
// login configuration file ZooKeeper administrators already keep, its
// "Server" section, as ZooKeeper's DigestLoginModule reads it:
//
//   Server {
//     org.apache.zookeeper.server.auth.DigestLoginModule required
//       user_alice="alice-secret"
//       user_super="admin-secret";
//   };
//
// Every `user_<name>="<password>"` option of a DigestLoginModule entry of
// the Server section is one user. Other sections (Client, QuorumServer, ...)
// and other login modules are skipped. Comments: `//`, `/* */` and `#`.
//
// Pure functions; thread-compatible. Error messages name lines and users,
// never a password.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace synod::zk {

// User name -> password.
using SaslUsers = absl::flat_hash_map<std::string, std::string>;

// Users past this many, or a name or password longer than this, make the
// file refused: a users file is an operator's list, not a database.
inline constexpr size_t kMaxSaslUsers = 10000;
inline constexpr size_t kMaxSaslFieldBytes = 1024;

// InvalidArgument (with the line) for a file that is not a JAAS login
// configuration, has no "Server" section, a Server section with no user, a
// user named twice, an empty user name or password, a name holding a space,
// a control character or '@' (Cyrus SASL splits a realm off at '@'), or
// more than the limits above.
absl::StatusOr<SaslUsers> ParseJaasUsers(absl::string_view text);

// Reads `path` and parses it. NotFound / PermissionDenied (unreadable) or
// InvalidArgument as above, the message naming the file.
absl::StatusOr<SaslUsers> LoadSaslUsers(const std::string& path);

}  // namespace synod::zk
