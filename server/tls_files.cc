#include "server/tls_files.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "openssl/x509.h"
#include "openssl/x509_vfy.h"
#include "server/tcp_socket.h"

namespace synod::server {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": cannot open"));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": cannot read"));
  return bytes;
}

// The last OpenSSL error as text (and clears the queue).
std::string SslError() {
  const unsigned long e = ERR_peek_last_error();
  std::string text = e == 0 ? "no PEM data" : ERR_reason_error_string(e) != nullptr
                                                  ? ERR_reason_error_string(e)
                                                  : absl::StrCat("error ", e);
  ERR_clear_error();
  return text;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct StoreDeleter {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxDeleter {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct StackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};

std::unique_ptr<BIO, BioDeleter> MemBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioDeleter>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in `pem`, in order. Errors: InvalidArgument (none).
absl::StatusOr<std::unique_ptr<STACK_OF(X509), StackDeleter>> ReadCerts(const std::string& pem,
                                                                       const std::string& what) {
  std::unique_ptr<STACK_OF(X509), StackDeleter> certs(sk_X509_new_null());
  auto bio = MemBio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(certs.get(), x);
  }
  ERR_clear_error();  // the end of the data reads as an error
  if (sk_X509_num(certs.get()) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no PEM certificate in it"));
  }
  return certs;
}

// Writes `bytes` to `path` through a temporary file, fsynced, renamed.
absl::Status WriteAtomically(const std::string& path, const std::string& bytes) {
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat(temp, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return absl::InternalError(absl::StrCat(temp, ": ", why));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ClientAuth> ParseClientAuth(std::string_view text) {
  if (text == "none") return ClientAuth::kNone;
  if (text == "request") return ClientAuth::kRequest;
  if (text == "require") return ClientAuth::kRequire;
  return absl::InvalidArgumentError(
      absl::StrCat("client auth \"", std::string(text), "\": must be none, request or require"));
}

absl::Status CheckTlsFiles(const TlsFiles& files, bool signed_by_ca) {
  if (files.cert.empty() || files.key.empty()) {
    return absl::InvalidArgumentError("a certificate and its key are both needed");
  }
  absl::StatusOr<std::string> cert_pem = ReadFile(files.cert, "certificate");
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadFile(files.key, "key");
  if (!key_pem.ok()) return key_pem.status();
  auto chain = ReadCerts(*cert_pem, absl::StrCat("certificate ", files.cert));
  if (!chain.ok()) return chain.status();
  X509* leaf = sk_X509_value(chain->get(), 0);
  auto key_bio = MemBio(*key_pem);
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("key ", files.key, ": not a PEM private key (", SslError(), ")"));
  }
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("key ", files.key, " does not belong to certificate ", files.cert));
  }
  if (files.ca.empty()) {
    if (signed_by_ca) return absl::InvalidArgumentError("a CA certificate is needed");
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ca_pem = ReadFile(files.ca, "CA certificate");
  if (!ca_pem.ok()) return ca_pem.status();
  auto cas = ReadCerts(*ca_pem, absl::StrCat("CA certificate ", files.ca));
  if (!cas.ok()) return cas.status();
  if (!signed_by_ca) return absl::OkStatus();
  std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
  for (int i = 0; i < sk_X509_num(cas->get()); ++i) {
    X509_STORE_add_cert(store.get(), sk_X509_value(cas->get(), i));
  }
  std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, chain->get());
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("certificate ", files.cert,
                                                   " does not verify against CA ", files.ca, ": ",
                                                   X509_verify_cert_error_string(err)));
  }
  return absl::OkStatus();
}

StagedTlsFiles::StagedTlsFiles(std::string what, TlsFiles source, std::string dir,
                               bool signed_by_ca, std::string also_trusted_ca)
    : what_(std::move(what)),
      source_(std::move(source)),
      dir_(std::move(dir)),
      signed_by_ca_(signed_by_ca),
      also_trusted_ca_(std::move(also_trusted_ca)) {}

absl::Status StagedTlsFiles::Stage() {
  if (absl::Status s = CheckTlsFiles(source_, signed_by_ca_); !s.ok()) return s;
  // Read again for the copies: what was checked is what is staged, short of
  // a file replaced in between (then the next Stage checks the new one).
  absl::StatusOr<std::string> cert = ReadFile(source_.cert, "certificate");
  absl::StatusOr<std::string> key = ReadFile(source_.key, "key");
  if (!cert.ok()) return cert.status();
  if (!key.ok()) return key.status();
  std::string trusted;  // the CA copy: source_.ca, then also_trusted_ca_
  if (has_ca()) {
    for (const std::string& path : {source_.ca, also_trusted_ca_}) {
      if (path.empty()) continue;
      absl::StatusOr<std::string> ca = ReadFile(path, "CA certificate");
      if (!ca.ok()) return ca.status();
      if (auto certs = ReadCerts(*ca, absl::StrCat("CA certificate ", path)); !certs.ok()) {
        return certs.status();
      }
      if (!trusted.empty() && trusted.back() != '\n') trusted.push_back('\n');
      trusted += *ca;
    }
  }
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat(dir_, ": ", std::strerror(errno)));
  }
  std::string identity = *std::move(key);
  if (!identity.empty() && identity.back() != '\n') identity.push_back('\n');
  identity += *cert;
  if (absl::Status s = WriteAtomically(identity_path(), identity); !s.ok()) return s;
  if (has_ca()) {
    if (absl::Status s = WriteAtomically(ca_path(), trusted); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> WatchedServerCredentials(const StagedTlsFiles& files,
                                                                  ClientAuth auth) {
  const auto refresh = static_cast<unsigned int>(absl::ToInt64Seconds(kTlsRefresh));
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (files.has_ca()) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        files.identity_path(), files.identity_path(), files.ca_path(), refresh);
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        files.identity_path(), files.identity_path(), refresh);
  }
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (files.has_ca()) options.watch_root_certs();
  switch (auth) {
    case ClientAuth::kNone:
      options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
      break;
    case ClientAuth::kRequest:
      options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
      break;
    case ClientAuth::kRequire:
      options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      break;
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> WatchedChannelCredentials(const StagedTlsFiles& files) {
  const auto refresh = static_cast<unsigned int>(absl::ToInt64Seconds(kTlsRefresh));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.identity_path(), files.identity_path(), files.ca_path(), refresh);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_identity_key_cert_pairs();
  options.watch_root_certs();
  return grpc::experimental::TlsCredentials(options);
}

std::string PlaintextListeners(const std::string& client_addr, bool client_tls,
                               const std::string& peer_addr, bool peer_tls,
                               const std::string& zk_addr) {
  std::vector<std::string> open;
  if (!client_tls && !IsLoopbackAddress(client_addr)) open.push_back("clients on " + client_addr);
  if (!peer_tls && !IsLoopbackAddress(peer_addr)) open.push_back("peers on " + peer_addr);
  if (!zk_addr.empty() && !IsLoopbackAddress(zk_addr)) {
    open.push_back("ZooKeeper clients on " + zk_addr);
  }
  return absl::StrJoin(open, " and ");
}

bool IsLoopbackAddress(const std::string& addr) {
  std::string host;
  std::string port;
  if (!SplitHostPort(addr, &host, &port).ok()) return false;
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace synod::server
