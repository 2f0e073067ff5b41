// The ZooKeeper driver: libzookeeper-mt's asynchronous C API (zoo_aset,
// zoo_aget, zoo_acreate, zoo_async). Each connection is one ZooKeeper
// session with the library's own I/O and completion threads; completions run
// on that session's completion thread, in request order.
//
// A linearizable read is ZooKeeper's documented recipe: sync, then getData,
// on the same session. Both requests are sent back to back: ZooKeeper
// serves a session's requests in order, so the read is answered only after
// the sync has caught the replica up with the leader. The read counts as
// failed if either half fails.
#define THREADED
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/synod_bench/driver.h"

namespace synod::bench {
namespace {

// Connection state, told by the session watcher on the I/O thread.
struct SessionState {
  std::mutex mu;
  std::condition_variable cv;
  int state = 0;
};

void SessionWatcher(zhandle_t*, int type, int state, const char*, void* ctx) {
  if (type != ZOO_SESSION_EVENT) return;
  auto* s = static_cast<SessionState*>(ctx);
  std::lock_guard<std::mutex> lock(s->mu);
  s->state = state;
  s->cv.notify_all();
}

// One ZooKeeper session, connected (or an error).
absl::StatusOr<zhandle_t*> Open(const std::string& endpoint, int session_timeout_ms,
                                SessionState* state) {
  zhandle_t* zh =
      zookeeper_init(endpoint.c_str(), SessionWatcher, session_timeout_ms, nullptr, state, 0);
  if (zh == nullptr) return absl::UnavailableError(absl::StrCat("zookeeper_init ", endpoint));
  std::unique_lock<std::mutex> lock(state->mu);
  if (!state->cv.wait_for(lock, std::chrono::seconds(15),
                          [&] { return state->state == ZOO_CONNECTED_STATE; })) {
    lock.unlock();
    zookeeper_close(zh);
    return absl::UnavailableError(absl::StrCat("no ZooKeeper session at ", endpoint, " in 15 s"));
  }
  return zh;
}

// One operation in flight. `pending` counts the library callbacks (and
// failed submissions) still to come; whoever brings it to zero reports.
struct Op {
  Completion* done;
  std::atomic<int> pending;
  std::atomic<int> rc{ZOK};  // first failure seen

  void Finish(int code) {
    if (code != ZOK) {
      int expected = ZOK;
      rc.compare_exchange_strong(expected, code);
    }
    if (pending.fetch_sub(1) != 1) return;
    const int final_rc = rc.load();
    Completion* d = done;
    delete this;  // before Done: Done may issue the next op on this slot
    if (final_rc == ZOK) {
      d->Done(OpOutcome::kOk, "");
    } else {
      d->Done(final_rc == ZNODEEXISTS ? OpOutcome::kExists : OpOutcome::kError,
              absl::StrCat("zookeeper ", final_rc, ": ", zerror(final_rc)));
    }
  }
};

void StatDone(int rc, const struct Stat*, const void* data) {
  static_cast<Op*>(const_cast<void*>(data))->Finish(rc);
}
void DataDone(int rc, const char*, int, const struct Stat*, const void* data) {
  static_cast<Op*>(const_cast<void*>(data))->Finish(rc);
}
void StringDone(int rc, const char*, const void* data) {
  static_cast<Op*>(const_cast<void*>(data))->Finish(rc);
}

// Thread: Issue from any thread (the library serialises submissions).
class ZooKeeperConnection : public Connection {
 public:
  ZooKeeperConnection(zhandle_t* zh, std::unique_ptr<SessionState> state)
      : state_(std::move(state)), zh_(zh) {}
  ~ZooKeeperConnection() override { zookeeper_close(zh_); }

  void Issue(OpKind kind, const std::string& key, const std::string& value,
             Completion* done) override {
    const bool with_sync = kind == OpKind::kReadLinearizable;
    auto* op = new Op{done, with_sync ? 2 : 1};
    if (with_sync) {
      const int rc = zoo_async(zh_, key.c_str(), StringDone, op);
      if (rc != ZOK) op->Finish(rc);  // the sync's callback will not come
    }
    int rc = ZOK;
    switch (kind) {
      case OpKind::kWrite:
        rc = zoo_aset(zh_, key.c_str(), value.data(), static_cast<int>(value.size()), -1, StatDone,
                      op);
        break;
      case OpKind::kCreate:
        rc = zoo_acreate(zh_, key.c_str(), value.data(), static_cast<int>(value.size()),
                         &ZOO_OPEN_ACL_UNSAFE, 0, StringDone, op);
        break;
      case OpKind::kReadLinearizable:
      case OpKind::kReadSerializable:
        rc = zoo_aget(zh_, key.c_str(), 0, DataDone, op);
        break;
    }
    if (rc != ZOK) op->Finish(rc);
  }

 private:
  std::unique_ptr<SessionState> state_;  // the watcher's context: outlives zh_
  zhandle_t* const zh_;
};

// The reply to a four-letter-word command ("srvr"), or "" on failure.
std::string FourLetterWord(const std::string& endpoint, const std::string& cmd) {
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos) return "";
  const std::string host = endpoint.substr(0, colon), port = endpoint.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return "";
  std::string out;
  const int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0 &&
      write(fd, cmd.data(), cmd.size()) == static_cast<ssize_t>(cmd.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return out;
}

class ZooKeeperDriver : public Driver {
 public:
  explicit ZooKeeperDriver(int session_timeout_ms) : session_timeout_ms_(session_timeout_ms) {
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
  }

  absl::Status Prepare(const std::string& endpoint) override {
    SessionState state;
    absl::StatusOr<zhandle_t*> zh = Open(endpoint, session_timeout_ms_, &state);
    if (!zh.ok()) return zh.status();
    const int rc = zoo_create(*zh, "/bench", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
    zookeeper_close(*zh);
    if (rc == ZOK || rc == ZNODEEXISTS) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat("create /bench: ", zerror(rc)));
  }

  // Needs "srvr" in the servers' 4lw.commands.whitelist.
  absl::StatusOr<std::string> FindLeader(const std::vector<std::string>& endpoints) override {
    for (const std::string& e : endpoints) {
      const std::string reply = FourLetterWord(e, "srvr");
      if (absl::StrContains(reply, "Mode: leader") ||
          absl::StrContains(reply, "Mode: standalone")) {
        return e;
      }
    }
    return absl::UnavailableError(
        "no ZooKeeper leader found via 'srvr' (is 4lw.commands.whitelist=srvr set?)");
  }

  absl::StatusOr<std::unique_ptr<Connection>> Connect(const std::string& endpoint, int) override {
    auto state = std::make_unique<SessionState>();
    absl::StatusOr<zhandle_t*> zh = Open(endpoint, session_timeout_ms_, state.get());
    if (!zh.ok()) return zh.status();
    return std::make_unique<ZooKeeperConnection>(*zh, std::move(state));
  }

 private:
  const int session_timeout_ms_;
};

}  // namespace

std::unique_ptr<Driver> NewZooKeeperDriver(int session_timeout_ms) {
  return std::make_unique<ZooKeeperDriver>(session_timeout_ms);
}

}  // namespace synod::bench
