#include "server/link_tls.h"

#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "openssl/err.h"
#include "openssl/ssl.h"
#include "openssl/x509v3.h"

namespace synod::server {

struct LinkTls::Contexts {
  ~Contexts() {
    SSL_CTX_free(server);
    SSL_CTX_free(client);
  }
  SSL_CTX* server = nullptr;
  SSL_CTX* client = nullptr;
};

namespace {

std::string TakeSslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf);
  }
  return out.empty() ? "unknown TLS error" : out;
}

// A context for one side: our identity, the CA, peers must present a
// certificate it signed.
absl::StatusOr<SSL_CTX*> NewContext(bool server, const std::string& identity_path,
                                    const std::string& ca_path) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) return absl::InternalError(TakeSslErrors());
  auto fail = [ctx](const std::string& what) {
    SSL_CTX_free(ctx);
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", TakeSslErrors()));
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, identity_path.c_str()) != 1) {
    return fail(absl::StrCat("peer certificate ", identity_path));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, identity_path.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return fail(absl::StrCat("peer key ", identity_path));
  }
  if (SSL_CTX_load_verify_locations(ctx, ca_path.c_str(), nullptr) != 1) {
    return fail(absl::StrCat("peer CA ", ca_path));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  // Partial writes: the link writes what the socket takes and keeps the rest.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read ahead: one read(2) takes every record the socket holds, where
  // OpenSSL would otherwise read each record's header and body apart. What
  // it reads ahead stays in the session (Buffered), which travels with the
  // fd when the listener hands the link over.
  SSL_CTX_set_read_ahead(ctx, 1);
  if (server) {
    // The receiver never writes after its answer (raft_link.h): no tickets.
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  return ctx;
}

// Milliseconds left until `deadline`, for poll (0 once it passed).
int MillisUntil(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
}

}  // namespace

LinkTls::~LinkTls() = default;

absl::Status LinkTls::Reload(const std::string& identity_path, const std::string& ca_path) {
  auto contexts = std::make_shared<Contexts>();
  absl::StatusOr<SSL_CTX*> server = NewContext(true, identity_path, ca_path);
  if (!server.ok()) return server.status();
  contexts->server = *server;
  absl::StatusOr<SSL_CTX*> client = NewContext(false, identity_path, ca_path);
  if (!client.ok()) return client.status();
  contexts->client = *client;
  absl::MutexLock lock(&mu_);
  current_ = std::move(contexts);
  return absl::OkStatus();
}

std::shared_ptr<const LinkTls::Contexts> LinkTls::current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

LinkTlsSession::LinkTlsSession(std::shared_ptr<const LinkTls::Contexts> contexts, SSL* ssl, int fd)
    : contexts_(std::move(contexts)), ssl_(ssl), fd_(fd) {}

LinkTlsSession::~LinkTlsSession() { SSL_free(ssl_); }

absl::StatusOr<std::unique_ptr<LinkTlsSession>> LinkTlsSession::Connect(
    const LinkTls& tls, int fd, const std::string& host, absl::Time deadline, int abort_fd) {
  std::shared_ptr<const LinkTls::Contexts> contexts = tls.current();
  if (contexts == nullptr) return absl::UnavailableError("no peer TLS certificate loaded");
  SSL* ssl = SSL_new(contexts->client);
  if (ssl == nullptr) return absl::UnavailableError(TakeSslErrors());
  std::unique_ptr<LinkTlsSession> session(new LinkTlsSession(contexts, ssl, fd));
  // The peer's certificate must name the address dialled.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  in6_addr any{};
  const bool ip = ::inet_pton(AF_INET, host.c_str(), &any) == 1 ||
                  ::inet_pton(AF_INET6, host.c_str(), &any) == 1;
  const int named = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                       : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (named != 1) return absl::UnavailableError(absl::StrCat("peer address ", host, ": ", TakeSslErrors()));
  if (!ip) SSL_set_tlsext_host_name(ssl, host.c_str());
  SSL_set_fd(ssl, fd);
  SSL_set_connect_state(ssl);
  return Handshake(std::move(session), deadline, abort_fd);
}

absl::StatusOr<std::unique_ptr<LinkTlsSession>> LinkTlsSession::Accept(const LinkTls& tls, int fd,
                                                                       absl::Time deadline,
                                                                       int abort_fd) {
  std::shared_ptr<const LinkTls::Contexts> contexts = tls.current();
  if (contexts == nullptr) return absl::UnavailableError("no peer TLS certificate loaded");
  SSL* ssl = SSL_new(contexts->server);
  if (ssl == nullptr) return absl::UnavailableError(TakeSslErrors());
  std::unique_ptr<LinkTlsSession> session(new LinkTlsSession(contexts, ssl, fd));
  SSL_set_fd(ssl, fd);
  SSL_set_accept_state(ssl);
  return Handshake(std::move(session), deadline, abort_fd);
}

absl::StatusOr<std::unique_ptr<LinkTlsSession>> LinkTlsSession::Handshake(
    std::unique_ptr<LinkTlsSession> session, absl::Time deadline, int abort_fd) {
  ERR_clear_error();
  while (true) {
    const int rc = SSL_do_handshake(session->ssl_);
    if (rc == 1) return session;
    const int err = SSL_get_error(session->ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!session->Wait(err, deadline, abort_fd)) {
        return absl::UnavailableError("TLS handshake timed out");
      }
      continue;
    }
    std::string why = TakeSslErrors();
    const long verify = SSL_get_verify_result(session->ssl_);
    if (verify != X509_V_OK) {
      why = absl::StrCat("the peer's certificate did not verify: ",
                         X509_verify_cert_error_string(verify));
    }
    return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", why));
  }
}

bool LinkTlsSession::Wait(int ssl_error, absl::Time deadline, int abort_fd) {
  const short events = ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
  while (true) {
    pollfd fds[2] = {{fd_, events, 0}, {abort_fd, POLLIN, 0}};
    const int rc = ::poll(fds, abort_fd >= 0 ? 2 : 1, MillisUntil(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    if (abort_fd >= 0 && fds[1].revents != 0) return false;
    return true;
  }
}

ssize_t LinkTlsSession::Write(const char* data, size_t size) {
  ERR_clear_error();
  const int n = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(size, 1u << 30)));
  if (n > 0) return n;
  const int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) return 0;
  ERR_clear_error();
  return -1;
}

ssize_t LinkTlsSession::Read(char* data, size_t size) {
  ERR_clear_error();
  const int n = SSL_read(ssl_, data, static_cast<int>(std::min<size_t>(size, 1u << 30)));
  if (n > 0) return n;
  const int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return 0;
  ERR_clear_error();
  return -1;
}

bool LinkTlsSession::Buffered() const { return SSL_has_pending(ssl_) == 1; }

bool LinkTlsSession::Exactly(size_t size, absl::Time deadline, int abort_fd,
                             absl::FunctionRef<int(size_t done)> step) {
  size_t done = 0;
  while (done < size) {
    const int n = step(done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    const int err = SSL_get_error(ssl_, n);
    if ((err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) ||
        !Wait(err, deadline, abort_fd)) {
      ERR_clear_error();
      return false;
    }
  }
  return true;
}

bool LinkTlsSession::WriteExactly(const void* data, size_t size, absl::Time deadline,
                                  int abort_fd) {
  const char* p = static_cast<const char*>(data);
  return Exactly(size, deadline, abort_fd, [&](size_t done) {
    return SSL_write(ssl_, p + done, static_cast<int>(size - done));
  });
}

bool LinkTlsSession::ReadExactly(void* data, size_t size, absl::Time deadline, int abort_fd) {
  char* p = static_cast<char*>(data);
  return Exactly(size, deadline, abort_fd, [&](size_t done) {
    return SSL_read(ssl_, p + done, static_cast<int>(size - done));
  });
}

}  // namespace synod::server
