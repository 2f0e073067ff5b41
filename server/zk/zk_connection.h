// ZkConnection: the ZooKeeper protocol of one client connection: the
// session handshake, each request turned into a call on the replica's own
// request paths (TreeService::Serve, the SessionBackend, the WatchHub), and
// the replies framed in request order.
//
// Promises:
//  - Replies leave in the order their requests arrived: each request takes a
//    slot at the tail when it arrives; a completion fills its slot on
//    whichever thread completes it; TakeOutput hands over only the filled
//    slots at the head. Watch notifications take a slot when polled.
//  - Requests run in their order as ZooKeeper runs a session's requests: a
//    write (anything that goes through the log) is sent at once after the
//    requests before it were sent; a read waits until every write and sync
//    that arrived before it was answered, and everything after a waiting
//    request waits behind it. So a pipelined read sees the writes sent
//    before it. A sync changes nothing, so it is sent as soon as it
//    arrives, even past waiting reads: pipelined sync+read pairs then
//    share ReadIndex rounds instead of taking one round each, and the read
//    after a sync still waits for it (ZooKeeper's linearizable read).
//  - Reply headers' zxids never go backwards on a connection: each is at
//    least the one before it (a sync answered early carries the revision
//    it reached; the replica had applied at least the larger one when the
//    reply left).
//  - Every reply header carries the revision the replica had applied when
//    the reply was made (ZooKeeper's zxid). Reads wait until the replica has
//    applied what this connection already saw (the highest zxid sent, or the
//    client's lastZxidSeen at connect): a client never reads older state
//    than it saw, even after moving to another replica.
//  - A ZooKeeper session is a Synod session: connect with id 0 opens one
//    through the log; connect with an id and password resumes it on any
//    replica (the password is the session's secret); an unknown session or a
//    wrong password is answered with timeout 0 (the client reports the
//    session expired) and the connection closes.
//  - Every request is sent as the connection's caller (ZooKeeper's
//    authInfo): ip:<peer address>, plus digest:<id> for each addauth digest
//    (no registration, as ZooKeeper), plus the superuser flag for the
//    superuser digest, plus sasl:<user> once a DIGEST-MD5 exchange of the
//    sasl op completes (with --zk_sasl_users; a failed one is answered
//    AuthFailed and closes the connection, as ZooKeeper does). A request
//    keeps the caller it was sent with. An
//    addauth of a scheme ZooKeeper does not serve is answered AuthFailed
//    and closes the connection, as ZooKeeper does. ACLs are checked by the
//    replica's own rules (apply, TreeService; storage::Permits for
//    getAllChildrenNumber, which reads the store here), never re-decided.
//  - Watch notifications: one per event per connection, only for nodes the
//    identities it had at its first watch may read.
//  - Malformed input closes the connection (as ZooKeeper does) and changes
//    nothing.
//
// Thread: OnFrame, TakeOutput, SessionAlive and Close on the listener
// thread; completions on any thread. mu_ guards what both touch; it is never
// held while calling TreeService::Serve or the SessionBackend (they may
// complete inline).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "server/services/reply.h"
#include "server/session/session_service.h"
#include "server/watch/watch_hub.h"
#include "server/zk/jute.h"
#include "server/zk/four_letter_words.h"
#include "server/zk/records.h"
#include "server/zk/sasl_server.h"
#include "server/zk/zk_metrics.h"
#include "storage/tree_store.h"
#include "synod/v1/tree.pb.h"

namespace synod::zk {

// What a connection serves requests with; all outlive the listener.
struct ZkContext {
  // TreeService::Serve: runs one Tree call in-process, sent by `caller`.
  std::function<void(const v1::PipelineCall&, const std::shared_ptr<const v1::Caller>& caller,
                     v1::PipelineReply*, server::Replier)>
      serve;
  // ZooKeeper's superDigest (--superuser_digest, as storage::DigestId makes
  // it): an addauth digest yielding this identity makes the connection the
  // superuser. Empty: none.
  std::string superuser_digest;
  // SASL users (--zk_sasl_users; outlive the listener); null: SASL off. A
  // connection that completes DIGEST-MD5 as U holds sasl:U, and is the
  // superuser if U is sasl_superuser (ZooKeeper's zookeeper.superUser).
  const SaslUsers* sasl_users = nullptr;
  std::string sasl_superuser;
  server::SessionBackend* sessions = nullptr;
  server::WatchHub* watches = nullptr;
  storage::TreeStore* store = nullptr;
  // The most a multiRead reply may hold (its data and names); beyond it the
  // request is answered BADARGUMENTS, what Synod's TOO_LARGE maps to
  // (ZooKeeper clients refuse a reply frame over their jute.maxbuffer).
  size_t max_multi_read_bytes = (1u << 20) + 64 * 1024;
  // Counts what the port serves; set by the listener when left null.
  ZkMetrics* metrics = nullptr;
};

class ZkConnection : public std::enable_shared_from_this<ZkConnection> {
 public:
  // `wake` (thread-safe, quick) asks the listener thread to call
  // TakeOutput soon.
  // `peer_address`: the client's address ("127.0.0.1", "::1"; empty if
  // unknown), the connection's ip identity.
  ZkConnection(const ZkContext* context, const std::string& peer_address,
               std::function<void()> wake);
  ~ZkConnection();

  // One whole frame, without its length prefix.
  void OnFrame(std::string_view frame);
  // Appends the framed replies ready at the head, in order. True if the
  // connection must close once they are written.
  bool TakeOutput(std::string* out);
  // Requests whose replies were not yet taken.
  size_t pending() const;
  // False when the connection's session is gone from the replicated table
  // (expired or closed elsewhere): ZooKeeper then drops the connection.
  bool SessionAlive();
  // The socket is gone: drops the watches of this connection (a client
  // that reconnects sets them again with SetWatches).
  void Close();

  // For stat and cons: counts, session and last request (`remote` and
  // `reading` are the listener's to fill).
  ZkConnectionInfo Info() const;
  // For wchs: the paths this connection watches (one entry per watch).
  std::vector<std::string> WatchedPaths() const;
  // For mntr: how many watches this connection has.
  size_t WatchCount() const;

 private:
  struct Slot {
    absl::Time arrived = absl::Now();
    bool ready = false;
    // The order number of a write or sync (see ordered_open_); 0 for reads.
    uint64_t ordered = 0;
    bool close_after = false;
    // A reply whose header's zxid TakeOutput raises to the last one sent.
    bool reply_zxid = false;
    std::string bytes;  // framed
  };
  using SlotPtr = std::shared_ptr<Slot>;
  struct WatchKey {
    int kind;
    std::string path;
    template <typename H>
    friend H AbslHashValue(H h, const WatchKey& k) {
      return H::combine(std::move(h), k.kind, k.path);
    }
    bool operator==(const WatchKey&) const = default;
  };

  // A request kept back to keep the order (see the class comment).
  struct Held {
    std::string frame;
    SlotPtr slot;
    bool write = false;
    // A read runs once every write and sync numbered up to this is answered.
    uint64_t after = 0;
  };

  SlotPtr PushSlot();
  // Listener thread: sends the held requests whose turn came.
  void DispatchHeld();
  // Listener thread: a request whose turn came.
  void Dispatch(std::string_view frame, const SlotPtr& slot);
  // True when every write and sync numbered up to `after` was answered.
  bool AnsweredUpToLocked(uint64_t after) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills `slot` with `body` (framed here); `close_after`: close once sent.
  // A non-empty body is a reply whose header carries `err` (metrics).
  void Fill(const SlotPtr& slot, std::string body, bool close_after = false,
            int32_t err = kZOk);
  // A reply: header (zxid = `zxid`, remembered as seen) then `body`.
  void Reply(const SlotPtr& slot, int32_t xid, uint64_t zxid, int32_t err,
             const std::string& body = "", bool close_after = false);
  // Raises the zxid in a framed reply to the last one taken, or remembers
  // it as the last if larger (see the class comment).
  void RaiseReplyZxidLocked(std::string* framed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes the connection at this slot without a reply.
  void Drop(const SlotPtr& slot) { Fill(slot, "", /*close_after=*/true); }
  uint64_t AppliedRevision() const;
  v1::ReadOptions ReadAfterSeen() const;
  uint64_t session_id() const;
  // The WriteContext of a write through this connection's session (its id
  // and secret; no sequence: ZooKeeper's writes are at-most-once).
  v1::WriteContext SessionWrite() const;
  std::shared_ptr<const v1::Caller> caller() const;

  // Runs one Tree call; `done` gets its reply.
  void CallTree(v1::PipelineCall call, absl::AnyInvocable<void(const v1::PipelineReply&)> done);

  void OnConnect(std::string_view frame, const SlotPtr& slot);
  void OnRequest(const RequestHeader& header, JuteReader& r, const SlotPtr& slot);
  absl::Status OnCreate(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  absl::Status OnMulti(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  absl::Status OnGetChildren(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  // Reads every page of `path`'s children (from `token`, at `min_revision`
  // or later, and never older than this connection saw) into `names`;
  // `done` gets the header of the last page read (a failed one's if any)
  // and the node's stat.
  using ChildrenDone = std::function<void(const v1::ResponseHeader&, const v1::Stat&)>;
  void ReadChildren(std::string path, std::string token, uint64_t min_revision,
                    std::shared_ptr<std::vector<std::string>> names, ChildrenDone done);
  // zk_multi_read.cc: multiRead (22). Its ops run one after another, each
  // at least at the revision of the one before.
  struct MultiRead;
  absl::Status OnMultiRead(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  // Runs the ops of `m` from m->next on, then replies.
  void MultiReadStep(std::shared_ptr<MultiRead> m, const SlotPtr& slot);
  // Runs op m->next; `done` is called once its result is in `m`.
  void MultiReadOne(const std::shared_ptr<MultiRead>& m, std::function<void()> done);
  absl::Status OnSetWatches(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  // Runs `read` (a read of the store here) once this replica applied what
  // the connection saw, as the Tree reads wait; a failed wait (deadline,
  // shutdown) is answered in `slot` instead.
  void AfterSeen(const SlotPtr& slot, int32_t xid, absl::AnyInvocable<void()> read);
  void OnGetEphemerals(const RequestHeader& h, const std::string& prefix, const SlotPtr& slot);
  void OnGetAllChildrenNumber(const RequestHeader& h, const std::string& path, const SlotPtr& slot);
  // zk_auth_operations.cc.
  absl::Status OnAuth(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  absl::Status OnSasl(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  absl::Status OnWhoAmI(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  // Gives the connection's caller `scheme`:`id` (and the superuser flag if
  // `superuser`) unless it holds it. True if added.
  bool AddIdentityLocked(const std::string& scheme, const std::string& id, bool superuser,
                         server::WatchHub::StreamId* stale_stream)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OnGetAcl(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  absl::Status OnSetAcl(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  // zk_watch_operations.cc.
  absl::Status OnAddWatch(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);
  absl::Status OnCheckOrRemoveWatches(const RequestHeader& h, JuteReader& r, const SlotPtr& slot);

  // Registers a watch of `kind` on `path` from `start_revision`, unless the
  // connection already has that one (ZooKeeper keeps one per path and kind).
  void AddWatch(v1::WatchKind kind, const std::string& path, uint64_t start_revision);
  // Cancels the connection's watch of `kind` on `path`; false if it has none.
  bool RemoveWatch(v1::WatchKind kind, const std::string& path);
  bool HasWatch(v1::WatchKind kind, const std::string& path) const;
  // Listener thread: turns the hub's queued events into notifications.
  void PollWatches();

  const ZkContext* const context_;
  const std::function<void()> wake_;

  mutable absl::Mutex mu_;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  bool connecting_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t session_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::string session_secret_ ABSL_GUARDED_BY(mu_);  // the client's password
  // Who the requests are from (see the class comment). Replaced on addauth,
  // never changed in place: requests in flight keep theirs. Never null.
  std::shared_ptr<const v1::Caller> caller_ ABSL_GUARDED_BY(mu_);
  // The highest zxid this connection sent (or the client had seen).
  uint64_t seen_zxid_ ABSL_GUARDED_BY(mu_) = 0;
  // Slots of requests and notifications not yet taken; slot contents too.
  std::deque<SlotPtr> slots_ ABSL_GUARDED_BY(mu_);
  server::WatchHub::StreamId stream_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_watch_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<WatchKey, uint64_t> watch_ids_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, WatchKey> watch_keys_ ABSL_GUARDED_BY(mu_);
  // The events of revision notified_revision_ already notified, as (type,
  // path): a second watch matching one is not notified again. Only one
  // revision's worth: a repeat of an older revision (a watch catching up)
  // is notified, never lost.
  uint64_t notified_revision_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_set<std::pair<int, std::string>> notified_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // The DIGEST-MD5 exchange of the sasl op (context_->sasl_users set):
  // made by the first sasl request, freed by Close.
  std::unique_ptr<ZkSaslServer> sasl_ ABSL_GUARDED_BY(mu_);
  // What stat and cons show.
  uint64_t received_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t last_op_ ABSL_GUARDED_BY(mu_) = ZkMetrics::kConnect;
  int64_t last_cxid_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t timeout_ms_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time established_ ABSL_GUARDED_BY(mu_) = absl::Now();
  // Replies made and their latencies (cons).
  uint64_t replies_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_response_ ABSL_GUARDED_BY(mu_);
  int64_t last_latency_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t min_latency_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t max_latency_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t total_latency_ms_ ABSL_GUARDED_BY(mu_) = 0;
  // Writes and syncs are numbered as they arrive; ordered_open_ holds the
  // numbers not yet answered. Requests kept back to keep the order
  // (bounded with the slots: each holds one, see pending()).
  uint64_t ordered_seq_ ABSL_GUARDED_BY(mu_) = 0;
  absl::btree_set<uint64_t> ordered_open_ ABSL_GUARDED_BY(mu_);
  std::deque<Held> held_ ABSL_GUARDED_BY(mu_);
  // The zxid of the last reply header taken (see the class comment).
  int64_t last_reply_zxid_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace synod::zk
