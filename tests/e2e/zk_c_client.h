// The ZooKeeper 3.8 C client (Debian's libzookeeper-mt-dev, unchanged) for
// end-to-end tests: a handle that records every watcher call and lets the
// test wait for them with a deadline, a 3-replica TestCluster with
// --zk_addr on each, and a few call helpers.
#pragma once

#ifndef THREADED
#define THREADED  // the synchronous API of zookeeper_mt
#endif
#include <zookeeper/zookeeper.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/e2e/test_cluster.h"

namespace synod::e2e {

// One watcher call.
struct ZkEvent {
  int type = 0;  // ZOO_SESSION_EVENT, ZOO_CHANGED_EVENT, ...
  int state = 0;
  std::string path;
};

// Events recorded for one watcher context; Wait* block with a deadline.
//
// Thread: any; one mutex.
class ZkEventLog {
 public:
  void Add(ZkEvent event);
  // Waits until `condition` holds over the events so far.
  bool WaitFor(const std::function<bool(const std::vector<ZkEvent>&)>& condition,
               absl::Duration timeout);
  // Waits until an event of `type` on `path` arrived (and counts it).
  bool WaitForEvent(int type, const std::string& path, absl::Duration timeout);
  std::vector<ZkEvent> events();

 private:
  absl::Mutex mu_;
  std::vector<ZkEvent> events_ ABSL_GUARDED_BY(mu_);
};

// The watcher function that records into the ZkEventLog given as context.
void RecordZkEvent(zhandle_t* zh, int type, int state, const char* path, void* log);

// Waits for a one-shot completion of the asynchronous API: the test passes
// `this` as the completion's data, the completion calls Done.
//
// Thread: any; one mutex.
class ZkCompletion {
 public:
  void Done(int rc, std::string value = "");
  // False at the timeout.
  bool Wait(absl::Duration timeout);
  int rc();
  std::string value();

 private:
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int rc_ ABSL_GUARDED_BY(mu_) = 0;
  std::string value_ ABSL_GUARDED_BY(mu_);
};

// A handle, closed on destruction.
//
// Thread: the test thread calls the methods; the client's completion and
// event threads append to the logs.
class ZkHandle {
 public:
  // Starts a handle on `hosts` ("h:p,h:p"); `session` resumes that session.
  // Null when zookeeper_init fails. Use WaitConnected before calls.
  static std::unique_ptr<ZkHandle> Open(const std::string& hosts, int timeout_ms = 10000,
                                        const clientid_t* session = nullptr);
  ~ZkHandle();
  ZkHandle(const ZkHandle&) = delete;
  ZkHandle& operator=(const ZkHandle&) = delete;

  zhandle_t* get() { return zh_; }
  // Waits for the handle's state to be ZOO_CONNECTED_STATE.
  bool WaitConnected(absl::Duration timeout = absl::Seconds(15));
  // Session events of the handle's default watcher.
  ZkEventLog& session_events() { return session_events_; }
  int64_t session_id() { return zoo_client_id(zh_)->client_id; }
  // The port of the replica the handle is connected to, or 0.
  int ConnectedPort();
  // zoo_add_auth, waiting for its completion; the server's answer.
  int AddAuth(const std::string& scheme, const std::string& credential);
  // zoo_async (sync), waiting for its completion: later reads on this
  // handle see every write committed before it.
  int Sync(const std::string& path);

 private:
  ZkHandle() = default;
  zhandle_t* zh_ = nullptr;
  ZkEventLog session_events_;
};

// Three replicas with --zk_addr each on a free port; or, when the
// environment names SYNOD_ZK_REFERENCE=host:port, that server alone (no
// replica started; cluster() is null), to confirm what a test expects
// against a real ZooKeeper.
//
// Thread: one test thread.
class ZkCluster {
 public:
  ZkCluster();
  absl::Status Start();
  // Null against a reference server.
  TestCluster* cluster() { return cluster_.get(); }
  // Every ZooKeeper address, comma-separated (a connect string).
  std::string hosts() const;
  // The member whose ZooKeeper port is `port`, or 0.
  int MemberOfPort(int port) const;

 private:
  std::vector<int> zk_ports_;
  std::vector<std::string> zk_addrs_;
  std::unique_ptr<TestCluster> cluster_;
};

inline constexpr absl::Duration kZkWait = absl::Seconds(15);

// A handle on `hosts` once connected, or null.
std::unique_ptr<ZkHandle> ConnectZk(const std::string& hosts);
// zoo_get's data ("" unless ZOK); its stat and code if asked.
std::string ZkGet(zhandle_t* zh, const std::string& path, Stat* stat = nullptr,
                  int* rc = nullptr);
// zoo_create; its code.
int ZkCreate(zhandle_t* zh, const std::string& path, const std::string& data = "",
             int mode = ZOO_PERSISTENT, const ACL_vector* acl = &ZOO_OPEN_ACL_UNSAFE);

}  // namespace synod::e2e
