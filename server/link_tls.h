// Mutual TLS for the Raft link (raft_link.h), with OpenSSL on the link's own
// non-blocking TCP socket: the link keeps its framing and its writes from
// the raft thread; TLS only wraps the bytes.
//
// A sender that uses TLS opens the connection with kLinkTlsPreamble in the
// clear (so the peer listener can tell it from a plaintext link and from
// HTTP/2), then runs the handshake as the client; the hello, the answer and
// the frames follow inside TLS. Both ends present the replica's peer
// certificate and accept only a peer whose certificate the peer CA signed;
// the sender also checks that the certificate names the address it dialled
// (IP or DNS subject alternative name). TLS 1.2 at least, no session
// tickets (the receiver never writes after its answer: raft_link.h).
//
// LinkTls holds the current SSL_CTXs; Reload swaps in new ones (SIGHUP) for
// new links, keeping the old ones when the new files do not load. A session
// keeps the context it started with.
//
// The listener hands an accepted TLS link to the raft thread with its
// session (PeerListener::Options::adopt_link, RaftDriver::AdoptLink); the
// link's reader (LinkFrameReader) owns the session from then on.
//
// Thread: LinkTls is thread-safe. A LinkTlsSession is used by one thread at
// a time (the owner serializes, e.g. under the peer's mutex).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace synod::server {

// Sent in the clear by a sender about to start TLS on a new link.
inline constexpr std::string_view kLinkTlsPreamble = "SYNODTL1";

class LinkTls {
 public:
  LinkTls() = default;
  ~LinkTls();
  LinkTls(const LinkTls&) = delete;
  LinkTls& operator=(const LinkTls&) = delete;

  // Loads the key and chain (one PEM file) and the CA. On failure the
  // contexts in use stay. Errors: InvalidArgument.
  absl::Status Reload(const std::string& identity_path, const std::string& ca_path);

  struct Contexts;
  std::shared_ptr<const Contexts> current() const;

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const Contexts> current_ ABSL_GUARDED_BY(mu_);
};

class LinkTlsSession {
 public:
  // Handshakes on the connected non-blocking socket `fd` (not owned), as
  // the sender (`host`: the address dialled, checked against the peer's
  // certificate) or as the receiver, waiting until `deadline` or
  // `abort_fd` (>= 0) becomes readable. Errors: Unavailable (no contexts
  // loaded, the handshake failed or timed out: the message says why, e.g.
  // the peer's certificate did not verify).
  static absl::StatusOr<std::unique_ptr<LinkTlsSession>> Connect(const LinkTls& tls, int fd,
                                                                 const std::string& host,
                                                                 absl::Time deadline,
                                                                 int abort_fd);
  static absl::StatusOr<std::unique_ptr<LinkTlsSession>> Accept(const LinkTls& tls, int fd,
                                                                absl::Time deadline,
                                                                int abort_fd);
  // Frees the session; the fd is the caller's to close.
  ~LinkTlsSession();
  LinkTlsSession(const LinkTlsSession&) = delete;
  LinkTlsSession& operator=(const LinkTlsSession&) = delete;

  // Non-blocking. > 0: bytes moved; 0: the socket would block (Write: retry
  // later with the same bytes first); -1: the link ended or failed.
  ssize_t Write(const char* data, size_t size);
  ssize_t Read(char* data, size_t size);
  // True when OpenSSL holds bytes it read off the socket (read ahead) or
  // decrypted but Read has not returned: the socket may never become
  // readable for them, so the owner reads before it waits on the fd. May be
  // true for a part of a record only (then Read returns 0).
  bool Buffered() const;
  // All `size` bytes, waiting until `deadline` or `abort_fd`; false if not.
  bool WriteExactly(const void* data, size_t size, absl::Time deadline, int abort_fd);
  bool ReadExactly(void* data, size_t size, absl::Time deadline, int abort_fd);

 private:
  LinkTlsSession(std::shared_ptr<const LinkTls::Contexts> contexts, SSL* ssl, int fd);
  static absl::StatusOr<std::unique_ptr<LinkTlsSession>> Handshake(
      std::unique_ptr<LinkTlsSession> session, absl::Time deadline, int abort_fd);
  // Waits for what the last call wanted (read or write readiness).
  bool Wait(int ssl_error, absl::Time deadline, int abort_fd);
  // Calls `step(done)` (an SSL_read or SSL_write of the bytes after `done`)
  // until `size` bytes moved, waiting whenever OpenSSL asks to.
  bool Exactly(size_t size, absl::Time deadline, int abort_fd,
               absl::FunctionRef<int(size_t done)> step);

  const std::shared_ptr<const LinkTls::Contexts> contexts_;  // outlives ssl_
  SSL* const ssl_;
  const int fd_;
};

}  // namespace synod::server
