// FakeState: the shared state behind FakeCluster's replicas: the tree with
// ZooKeeper's rules, its history and event log, sessions with their
// exactly-once result tables, and the open watch streams.
//
// Thread-safety: every public method locks mu_ itself. Watch connections get
// their responses through WatchConn::Push (own mutex), never a gRPC write
// under mu_.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "synod/v1/cluster.pb.h"
#include "synod/v1/common.pb.h"
#include "synod/v1/session.pb.h"
#include "synod/v1/tree.pb.h"
#include "synod/v1/watch.pb.h"

namespace synod::client::testing {

// The outgoing side of one Watch stream: responses queue here and a writer
// thread sends them.
class WatchConn {
 public:
  explicit WatchConn(uint64_t member) : member_(member) {}
  uint64_t member() const { return member_; }
  void Push(v1::WatchResponse resp);
  // Blocks for the next response; nullopt once closed and drained.
  std::optional<v1::WatchResponse> Pop();
  void Close();

 private:
  const uint64_t member_;
  absl::Mutex mu_;
  std::deque<v1::WatchResponse> queue_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class FakeState {
 public:
  // The outcome of one request: the code, its message, and the revision the
  // state had when answering.
  struct [[nodiscard]] Outcome {
    v1::ErrorCode code = v1::OK;
    std::string message;
  };

  FakeState();

  uint64_t revision() const;

  // Tree.
  Outcome Create(const v1::CreateRequest& req, v1::CreateResponse* resp);
  Outcome Get(const v1::GetRequest& req, v1::GetResponse* resp);
  Outcome Exists(const v1::ExistsRequest& req, v1::ExistsResponse* resp);
  Outcome Set(const v1::SetRequest& req, v1::SetResponse* resp);
  Outcome Delete(const v1::DeleteRequest& req, v1::DeleteResponse* resp);
  Outcome GetChildren(const v1::GetChildrenRequest& req, uint32_t max_page,
                      v1::GetChildrenResponse* resp);
  Outcome Multi(const v1::MultiRequest& req, v1::MultiResponse* resp);
  Outcome History(const v1::HistoryRequest& req, v1::HistoryResponse* resp);
  void Compact(uint64_t revision);
  std::optional<std::string> Data(const std::string& path) const;
  int applied_writes() const;
  // A digest of the tree (for Status and snapshots).
  uint64_t Digest() const;
  std::string Dump() const;

  // Sessions.
  Outcome OpenSession(int64_t timeout_ms, v1::OpenSessionResponse* resp);
  Outcome KeepAlive(const v1::KeepAliveRequest& req, uint64_t member, v1::KeepAliveResponse* resp);
  Outcome CloseSession(const v1::CloseSessionRequest& req);
  void ExpireSession(uint64_t id);
  std::vector<uint64_t> Sessions() const;
  uint64_t KeepAliveMember(uint64_t id) const;

  // Watches.
  void AddConn(std::shared_ptr<WatchConn> conn);
  void RemoveConn(const WatchConn* conn);
  void WatchRequest(const std::shared_ptr<WatchConn>& conn, const v1::WatchRequest& req,
                    v1::ResponseHeader header);
  void OverflowWatches(uint64_t member);
  int live_conns() const;

 private:
  struct Node {
    std::string data;
    v1::Stat stat;
    std::set<std::string> children;  // names
  };
  using Tree = std::map<std::string, Node>;
  struct Session {
    std::string secret;
    int64_t timeout_ms = 0;
    uint64_t keepalive_member = 0;
    // Exactly-once: results by sequence (the fake keeps them all).
    std::map<uint64_t, std::pair<Outcome, std::string>> results;
  };
  struct Registration {
    uint64_t watch_id;
    std::string path;
    v1::WatchKind kind;
  };
  struct ConnState {
    std::shared_ptr<WatchConn> conn;
    std::vector<Registration> regs;
  };

  // A write applied to a scratch tree, all-or-nothing.
  struct Txn {
    Tree tree;
    std::vector<v1::WatchEvent> events;
    std::vector<std::pair<std::string, v1::NodeVersion>> versions;
  };

  Outcome ApplyOpLocked(Txn& txn, const v1::Op& op, uint64_t session, uint64_t rev,
                        v1::OpResult* result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CommitLocked(Txn& txn, uint64_t rev) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `apply` once per (session, sequence): a repeat gets the stored
  // response back in `resp` (serialized form in the table).
  template <typename Resp>
  Outcome ExactlyOnceLocked(const v1::WriteContext& w, Resp* resp,
                            const std::function<Outcome(Resp*)>& apply)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeleteEphemeralsLocked(uint64_t session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishLocked(const std::vector<v1::WatchEvent>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static bool Matches(const Registration& reg, const v1::WatchEvent& ev);

  mutable absl::Mutex mu_;
  Tree tree_ ABSL_GUARDED_BY(mu_);
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t compact_revision_ ABSL_GUARDED_BY(mu_) = 0;
  int applied_writes_ ABSL_GUARDED_BY(mu_) = 0;
  // Every data version ever, by path, oldest first (tombstones included).
  std::map<std::string, std::vector<v1::NodeVersion>> history_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::WatchEvent> events_ ABSL_GUARDED_BY(mu_);  // revision order
  std::map<uint64_t, Session> sessions_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> expired_ ABSL_GUARDED_BY(mu_);
  uint64_t next_session_ ABSL_GUARDED_BY(mu_) = 0x5000;
  std::vector<ConnState> conns_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::client::testing
