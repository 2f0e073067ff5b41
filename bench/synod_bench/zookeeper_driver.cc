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
//
// Watches: libzookeeper-mt 3.8 has no call for ZooKeeper 3.6's persistent
// watches (addWatch), so a watcher is a one-shot data watch (zoo_awget),
// re-armed by another zoo_awget from its own event callback: that round trip
// per watcher per event is part of what ZooKeeper costs here. The server
// notifies each session once per path; the library then calls every watcher
// that session registered on it. A session cycle is zookeeper_init, wait
// for the connection, a synchronous zoo_create (the library's zoo_acreate
// plus a wait) of a ZOO_EPHEMERAL node, zookeeper_close, all on a new
// handle with its own I/O and completion threads, as a new ZooKeeper client
// has. zookeeper_close only flushes the close request to the socket and
// returns; it does not wait for the server's answer, so the close's commit
// is not in a ZooKeeper cycle's time (Synod's and etcd's cycles wait for
// theirs).
#define THREADED
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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

// How each session is set up: its timeout, and how often its I/O thread
// resolves the host list again (zoo_set_servers_resolution_delay). With the
// library's default (0) it resolves every time it checks its socket for
// readiness, i.e. on every wake-up of the I/O thread, which at tens of
// thousands of requests per second costs the load generator CPU that the
// servers on the same 2 cores then lack. A tuned client sets a window; the
// hosts here are literal addresses, so any window gives the same answers.
struct SessionSetup {
  int timeout_ms;
  int resolution_delay_ms;
};

// One ZooKeeper session, connected (or an error).
absl::StatusOr<zhandle_t*> Open(const std::string& endpoint, const SessionSetup& setup,
                                SessionState* state) {
  zhandle_t* zh =
      zookeeper_init(endpoint.c_str(), SessionWatcher, setup.timeout_ms, nullptr, state, 0);
  if (zh == nullptr) return absl::UnavailableError(absl::StrCat("zookeeper_init ", endpoint));
  if (const int rc = zoo_set_servers_resolution_delay(zh, setup.resolution_delay_ms); rc != ZOK) {
    zookeeper_close(zh);
    return absl::InvalidArgumentError(absl::StrCat("zoo_set_servers_resolution_delay(",
                                                   setup.resolution_delay_ms, "): ", zerror(rc)));
  }
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

// Watchers on one session, each its own one-shot watch on the same node.
//
// Thread: the session's completion thread calls the callbacks (and so the
// sink); the destructor closes the session first, then frees the contexts.
class ZooKeeperWatchers : public Watchers {
 public:
  ZooKeeperWatchers(WatchSink* sink, std::string key) : sink_(sink), key_(std::move(key)) {}
  ~ZooKeeperWatchers() override {
    closing_ = true;
    if (zh_ != nullptr) zookeeper_close(zh_);
  }

  absl::Status Start(const std::string& endpoint, const SessionSetup& setup,
                     const std::vector<int>& ids) {
    absl::StatusOr<zhandle_t*> zh = Open(endpoint, setup, &state_);
    if (!zh.ok()) return zh.status();
    zh_ = *zh;
    for (int id : ids) watchers_.push_back(std::make_unique<One>(One{this, id}));
    for (auto& w : watchers_) Arm(w.get());
    return absl::OkStatus();
  }

 private:
  struct One {
    ZooKeeperWatchers* owner;
    int id;
  };

  void Arm(One* w) {
    const int rc = zoo_awget(zh_, key_.c_str(), &ZooKeeperWatchers::OnWatch, w,
                             &ZooKeeperWatchers::OnArmed, w);
    if (rc != ZOK) Fail(w, rc);
  }

  void Fail(One* w, int rc) {
    if (!closing_) sink_->Lost(w->id, absl::StrCat("zookeeper ", rc, ": ", zerror(rc)));
  }

  static void OnArmed(int rc, const char*, int, const struct Stat*, const void* data) {
    One* w = static_cast<One*>(const_cast<void*>(data));
    if (rc == ZOK) {
      w->owner->sink_->Armed(w->id);
    } else {
      w->owner->Fail(w, rc);
    }
  }

  static void OnWatch(zhandle_t*, int type, int state, const char*, void* ctx) {
    const auto now = std::chrono::steady_clock::now();
    One* w = static_cast<One*>(ctx);
    ZooKeeperWatchers* self = w->owner;
    if (self->closing_) return;
    if (type == ZOO_CHANGED_EVENT) {
      self->sink_->Event(w->id, now, false);
      self->Arm(w);
    } else if (type == ZOO_SESSION_EVENT) {
      // A reconnect keeps the watch; only an expired session loses it.
      if (state == ZOO_EXPIRED_SESSION_STATE) self->Fail(w, ZSESSIONEXPIRED);
    } else {
      self->sink_->Lost(w->id, absl::StrCat("unexpected watch event type ", type));
    }
  }

  WatchSink* const sink_;
  const std::string key_;
  SessionState state_;  // the session watcher's context: outlives zh_
  std::vector<std::unique_ptr<One>> watchers_;
  std::atomic<bool> closing_{false};
  zhandle_t* zh_ = nullptr;
};

class ZooKeeperSessionClient : public SessionClient {
 public:
  ZooKeeperSessionClient(std::string endpoint, const SessionSetup& setup)
      : endpoint_(std::move(endpoint)), setup_(setup) {}

  absl::Status Cycle(const std::string& key, const std::string& value) override {
    SessionState state;
    absl::StatusOr<zhandle_t*> zh = Open(endpoint_, setup_, &state);
    if (!zh.ok()) return zh.status();
    const int rc = zoo_create(*zh, key.c_str(), value.data(), static_cast<int>(value.size()),
                              &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, nullptr, 0);
    // Closed even if the create failed, as the other systems' cycles do.
    const int close_rc = zookeeper_close(*zh);
    if (rc != ZOK) return absl::UnavailableError(absl::StrCat("create ephemeral: ", zerror(rc)));
    if (close_rc != ZOK) {
      return absl::UnavailableError(absl::StrCat("zookeeper_close: ", zerror(close_rc)));
    }
    return absl::OkStatus();
  }

 private:
  const std::string endpoint_;
  const SessionSetup setup_;
};

// A blocking wait for one zoo_async.
struct Synced {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

// A failed sync shows as a failed (or stale) zoo_exists after it.
void SyncDone(int, const char*, const void* data) {
  auto* s = static_cast<Synced*>(const_cast<void*>(data));
  std::lock_guard<std::mutex> lock(s->mu);
  s->done = true;
  s->cv.notify_all();
}

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
  explicit ZooKeeperDriver(const SessionSetup& setup) : setup_(setup) {
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
  }

  absl::Status Prepare(const std::string& endpoint) override {
    SessionState state;
    absl::StatusOr<zhandle_t*> zh = Open(endpoint, setup_, &state);
    if (!zh.ok()) return zh.status();
    int rc = ZOK;
    std::string failed;
    for (const char* path : {"/bench", kWatchKey, kChurnParent}) {
      rc = zoo_create(*zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
      if (rc != ZOK && rc != ZNODEEXISTS) {
        failed = path;
        break;
      }
    }
    zookeeper_close(*zh);
    if (failed.empty()) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat("create ", failed, ": ", zerror(rc)));
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
    absl::StatusOr<zhandle_t*> zh = Open(endpoint, setup_, state.get());
    if (!zh.ok()) return zh.status();
    return std::make_unique<ZooKeeperConnection>(*zh, std::move(state));
  }

  absl::StatusOr<std::unique_ptr<Watchers>> Watch(const std::string& endpoint, int,
                                                  const std::string& key,
                                                  const std::vector<int>& ids,
                                                  WatchSink* sink) override {
    auto w = std::make_unique<ZooKeeperWatchers>(sink, key);
    if (absl::Status s = w->Start(endpoint, setup_, ids); !s.ok()) return s;
    return w;
  }

  absl::StatusOr<std::unique_ptr<SessionClient>> NewSessionClient(const std::string& endpoint,
                                                                  int) override {
    return std::make_unique<ZooKeeperSessionClient>(endpoint, setup_);
  }

  // sync, then exists, on one session: ZooKeeper's linearizable read.
  absl::StatusOr<int64_t> CountChildren(const std::string& endpoint,
                                        const std::string& parent) override {
    SessionState state;
    absl::StatusOr<zhandle_t*> zh = Open(endpoint, setup_, &state);
    if (!zh.ok()) return zh.status();
    Synced synced;
    int rc = zoo_async(*zh, parent.c_str(), SyncDone, &synced);
    if (rc == ZOK) {
      std::unique_lock<std::mutex> lock(synced.mu);
      if (!synced.cv.wait_for(lock, std::chrono::milliseconds(setup_.timeout_ms),
                              [&] { return synced.done; })) {
        rc = ZOPERATIONTIMEOUT;
      }
    }
    struct Stat stat {};
    if (rc == ZOK) rc = zoo_exists(*zh, parent.c_str(), 0, &stat);
    zookeeper_close(*zh);
    if (rc != ZOK) return absl::UnavailableError(absl::StrCat("exists ", parent, ": ", zerror(rc)));
    return stat.numChildren;
  }

 private:
  const SessionSetup setup_;
};

}  // namespace

std::unique_ptr<Driver> NewZooKeeperDriver(int session_timeout_ms, int resolution_delay_ms) {
  return std::make_unique<ZooKeeperDriver>(SessionSetup{session_timeout_ms, resolution_delay_ms});
}

}  // namespace synod::bench
