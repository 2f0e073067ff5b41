#include "client/src/endpoints.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace synod::client {
namespace {

// gRPC 1.51 shares one "callback alternative" completion queue (served by
// its "nexting" threads) among the channels that make callback calls, and
// tears it down when the last of those channels goes away. A channel made
// while that teardown runs can make a thread abort on a dead queue
// ("ref_counted.h: prior > 0"): it happened about once in 30 runs of our
// tests, which create and destroy clients all the time, and an application
// doing the same would crash alike. One channel that has made a callback
// call and is never destroyed keeps the queue up for the whole process.
void PinCallbackCompletionQueue() {
  struct Pin {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::Cluster::Stub> stub;
  };
  // Lives for the whole process, on purpose. (absl::IgnoreLeak is a no-op
  // in Debian's abseil, built without the leak sanitizer.)
  static const Pin* pin = [] {
    auto* p = new Pin;
#if defined(__SANITIZE_ADDRESS__)
    __lsan_ignore_object(p);
#endif
    p->channel = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
    p->stub = v1::Cluster::NewStub(p->channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now());  // fails at once, unsent
    v1::StatusRequest req;
    v1::StatusResponse resp;
    absl::Notification done;
    p->stub->async()->Status(&ctx, &req, &resp, [&done](grpc::Status) { done.Notify(); });
    done.WaitForNotification();
    return p;
  }();
  (void)pin;
}

std::shared_ptr<grpc::Channel> MakeChannel(
    const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  PinCallbackCompletionQueue();
  grpc::ChannelArguments args;
  // A replica that comes back should be found again within about a second,
  // not after gRPC's default backoff of up to two minutes. (Not
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it is also the connect timeout.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // After a failed connect the name is resolved again, by default at most
  // every 30 s: too slow for a replica that restarts.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 1000);
  // Snapshots and large multis: the server sets its own limit deliberately.
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, credentials, args);
}

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) pem.clear();
  if (pem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read the ", what, " file ", path));
  }
  return pem;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const Client::Options& options) {
  if (options.cert.empty() != options.key.empty()) {
    return absl::InvalidArgumentError("a client certificate needs its key, and a key its cert");
  }
  if (options.cacert.empty()) {
    if (!options.cert.empty()) {
      return absl::InvalidArgumentError("a client certificate needs cacert (TLS)");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadPem(options.cacert, "CA certificate");
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *std::move(ca);
  if (!options.cert.empty()) {
    absl::StatusOr<std::string> cert = ReadPem(options.cert, "client certificate");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem(options.key, "client key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

Endpoint::Endpoint(std::string addr, const std::shared_ptr<grpc::ChannelCredentials>& credentials)
    : address(std::move(addr)),
      channel(MakeChannel(address, credentials)),
      tree(v1::Tree::NewStub(channel)),
      session(v1::Session::NewStub(channel)),
      watch(v1::Watch::NewStub(channel)),
      cluster(v1::Cluster::NewStub(channel)),
      auth(v1::Auth::NewStub(channel)),
      pipeline(channel) {}

EndpointSet::EndpointSet(const std::vector<std::string>& seeds, size_t start,
                         std::shared_ptr<grpc::ChannelCredentials> credentials)
    : seeds_(seeds), credentials_(std::move(credentials)) {
  for (const std::string& s : seeds) {
    if (FindLocked(s) == nullptr) endpoints_.push_back(std::make_shared<Endpoint>(s, credentials_));
  }
  current_ = start % endpoints_.size();
}

std::shared_ptr<Endpoint> EndpointSet::FindLocked(const std::string& address) const {
  for (const auto& ep : endpoints_) {
    if (ep->address == address) return ep;
  }
  return nullptr;
}

std::shared_ptr<Endpoint> EndpointSet::Current() const {
  absl::ReaderMutexLock lock(&mu_);
  return endpoints_[current_];
}

std::shared_ptr<Endpoint> EndpointSet::Leader() const {
  absl::ReaderMutexLock lock(&mu_);
  if (leader_id_ == 0) return nullptr;
  for (const auto& ep : endpoints_) {
    if (ep->member_id.load() == leader_id_) return ep;
  }
  return nullptr;
}

std::shared_ptr<Endpoint> EndpointSet::ByMemberId(uint64_t id) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& ep : endpoints_) {
    if (id != 0 && ep->member_id.load() == id) return ep;
  }
  return nullptr;
}

std::shared_ptr<Endpoint> EndpointSet::ForAddress(const std::string& address) const {
  {
    absl::ReaderMutexLock lock(&mu_);
    if (auto ep = FindLocked(address)) return ep;
  }
  return std::make_shared<Endpoint>(address, credentials_);
}

uint64_t EndpointSet::leader_id() const {
  absl::ReaderMutexLock lock(&mu_);
  return leader_id_;
}

void EndpointSet::ReportFailure(const Endpoint& ep) {
  absl::MutexLock lock(&mu_);
  if (endpoints_[current_].get() == &ep) current_ = (current_ + 1) % endpoints_.size();
  if (leader_id_ != 0 && ep.member_id.load() == leader_id_) leader_id_ = 0;
}

bool EndpointSet::ReportHeader(Endpoint& ep, uint64_t member_id, uint64_t leader_id) {
  if (member_id != 0) ep.member_id.store(member_id);
  absl::MutexLock lock(&mu_);
  if (leader_id != 0) leader_id_ = leader_id;
  if (leader_id_ == 0) return false;
  for (const auto& e : endpoints_) {
    if (e->member_id.load() == leader_id_) return false;
  }
  return true;
}

void EndpointSet::SetMembers(const std::vector<Member>& members) {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Endpoint>> next;
  // Runs under mu_ (held above); clang's analysis needs it said for a lambda.
  auto add = [&](const std::string& address)
                 ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> std::shared_ptr<Endpoint> {
    for (const auto& ep : next) {
      if (ep->address == address) return ep;
    }
    std::shared_ptr<Endpoint> ep = FindLocked(address);
    if (ep == nullptr) ep = std::make_shared<Endpoint>(address, credentials_);
    next.push_back(ep);
    return ep;
  };
  for (const Member& m : members) {
    if (m.client_addr.empty()) continue;
    add(m.client_addr)->member_id.store(m.id);
  }
  if (next.empty()) return;  // a member list without addresses tells nothing
  for (const std::string& s : seeds_) add(s);
  const std::shared_ptr<Endpoint> current = endpoints_[current_];
  endpoints_ = std::move(next);
  auto it = std::find(endpoints_.begin(), endpoints_.end(), current);
  current_ = it != endpoints_.end() ? static_cast<size_t>(it - endpoints_.begin()) : 0;
}

std::vector<std::string> EndpointSet::Addresses() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& ep : endpoints_) out.push_back(ep->address);
  return out;
}

}  // namespace synod::client
