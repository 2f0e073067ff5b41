#include "tests/e2e/zk_c_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/testing/free_port.h"

namespace synod::e2e {

void ZkEventLog::Add(ZkEvent event) {
  absl::MutexLock lock(&mu_);
  events_.push_back(std::move(event));
}

bool ZkEventLog::WaitFor(const std::function<bool(const std::vector<ZkEvent>&)>& condition,
                         absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto holds = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return condition(events_); };
  return mu_.AwaitWithTimeout(absl::Condition(&holds), timeout);
}

bool ZkEventLog::WaitForEvent(int type, const std::string& path, absl::Duration timeout) {
  return WaitFor(
      [&](const std::vector<ZkEvent>& events) {
        for (const ZkEvent& e : events) {
          if (e.type == type && e.path == path) return true;
        }
        return false;
      },
      timeout);
}

std::vector<ZkEvent> ZkEventLog::events() {
  absl::MutexLock lock(&mu_);
  return events_;
}

void RecordZkEvent(zhandle_t*, int type, int state, const char* path, void* log) {
  static_cast<ZkEventLog*>(log)->Add({type, state, path == nullptr ? "" : path});
}

void ZkCompletion::Done(int rc, std::string value) {
  absl::MutexLock lock(&mu_);
  done_ = true;
  rc_ = rc;
  value_ = std::move(value);
}

bool ZkCompletion::Wait(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
}

int ZkCompletion::rc() {
  absl::MutexLock lock(&mu_);
  return rc_;
}

std::string ZkCompletion::value() {
  absl::MutexLock lock(&mu_);
  return value_;
}

std::unique_ptr<ZkHandle> ZkHandle::Open(const std::string& hosts, int timeout_ms,
                                         const clientid_t* session) {
  // The client's own log (connection attempts, reconnects) on stderr at
  // warning level: enough to read a failure, quiet otherwise.
  zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
  std::unique_ptr<ZkHandle> h(new ZkHandle());
  h->zh_ = zookeeper_init(hosts.c_str(), RecordZkEvent, timeout_ms, session,
                          &h->session_events_, 0);
  if (h->zh_ == nullptr) return nullptr;
  return h;
}

ZkHandle::~ZkHandle() {
  if (zh_ != nullptr) zookeeper_close(zh_);
}

bool ZkHandle::WaitConnected(absl::Duration timeout) {
  return session_events_.WaitFor(
      [&](const std::vector<ZkEvent>&) { return zoo_state(zh_) == ZOO_CONNECTED_STATE; },
      timeout) ||
         zoo_state(zh_) == ZOO_CONNECTED_STATE;
}

int ZkHandle::ConnectedPort() {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (zookeeper_get_connected_host(zh_, reinterpret_cast<sockaddr*>(&addr), &len) == nullptr) {
    return 0;
  }
  if (addr.ss_family != AF_INET) return 0;
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

namespace {
void CompleteVoid(int rc, const void* data) {
  static_cast<ZkCompletion*>(const_cast<void*>(data))->Done(rc);
}
void CompleteString(int rc, const char* value, const void* data) {
  static_cast<ZkCompletion*>(const_cast<void*>(data))->Done(rc, value == nullptr ? "" : value);
}
// The completion's answer, once it came; it owns `done` unless the call
// was never sent. At the timeout `done` is left to the completion that may
// still run (a test that failed anyway).
int Finish(int rc, ZkCompletion* done) {
  if (rc != ZOK) {
    delete done;
    return rc;
  }
  if (!done->Wait(absl::Seconds(15))) return ZOPERATIONTIMEOUT;
  rc = done->rc();
  delete done;
  return rc;
}
}  // namespace

int ZkHandle::AddAuth(const std::string& scheme, const std::string& credential) {
  auto* done = new ZkCompletion();
  int rc = zoo_add_auth(zh_, scheme.c_str(), credential.data(),
                        static_cast<int>(credential.size()), CompleteVoid, done);
  return Finish(rc, done);
}

int ZkHandle::Sync(const std::string& path) {
  auto* done = new ZkCompletion();
  int rc = zoo_async(zh_, path.c_str(), CompleteString, done);
  return Finish(rc, done);
}

ZkCluster::ZkCluster() {
  if (const char* ref = std::getenv("SYNOD_ZK_REFERENCE"); ref != nullptr && *ref != '\0') {
    zk_addrs_ = {ref};
    return;
  }
  TestCluster::Options options;
  for (int id = 1; id <= 3; ++id) {
    zk_ports_.push_back(testing::FreePort());
    zk_addrs_.push_back(absl::StrCat("127.0.0.1:", zk_ports_.back()));
    options.member_flags[id] = {"--zk_addr=" + zk_addrs_.back()};
  }
  cluster_ = std::make_unique<TestCluster>(options);
}

absl::Status ZkCluster::Start() {
  return cluster_ == nullptr ? absl::OkStatus() : cluster_->StartAll();
}

std::string ZkCluster::hosts() const { return absl::StrJoin(zk_addrs_, ","); }

int ZkCluster::MemberOfPort(int port) const {
  for (size_t i = 0; i < zk_ports_.size(); ++i) {
    if (zk_ports_[i] == port) return static_cast<int>(i) + 1;
  }
  return 0;
}

std::unique_ptr<ZkHandle> ConnectZk(const std::string& hosts) {
  std::unique_ptr<ZkHandle> h = ZkHandle::Open(hosts);
  if (h == nullptr || !h->WaitConnected(kZkWait)) return nullptr;
  return h;
}

std::string ZkGet(zhandle_t* zh, const std::string& path, Stat* stat, int* rc) {
  char buf[1024];
  int len = sizeof(buf);
  Stat local{};
  const int r = zoo_get(zh, path.c_str(), 0, buf, &len, stat == nullptr ? &local : stat);
  if (rc != nullptr) *rc = r;
  return r == ZOK && len >= 0 ? std::string(buf, len) : "";
}

int ZkCreate(zhandle_t* zh, const std::string& path, const std::string& data, int mode,
             const ACL_vector* acl) {
  return zoo_create(zh, path.c_str(), data.data(), static_cast<int>(data.size()), acl, mode,
                    nullptr, 0);
}

}  // namespace synod::e2e
