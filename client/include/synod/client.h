// synod::Client: the C++ client of a Synod cluster.
//
// A Client is given a few endpoints, learns every member from any of them
// (Cluster.MemberList) and routes each request: writes to the leader it knows
// of (any replica would forward them; this saves a hop), reads and streams to
// one sticky replica. On UNAVAILABLE / NOT_LEADER it retries with jittered
// exponential backoff until the caller's deadline, on another replica when
// the one it used failed, or straight on the leader a NOT_LEADER reply names.
//
// Retries never apply a write twice: reads and admin reads are retried
// blindly; writes carry the session's (id, sequence) WriteContext, which the
// replicated session table answers once; a write without a session is
// retried only when the replica said it did not propose it (NOT_LEADER).
// The session table keeps the result of every write the client has not
// acknowledged, so up to Options::max_writes_in_flight session writes may
// be in flight at once (default 1: one at a time, in the order issued).
//
// Consistency: the client remembers the highest revision it handed to the
// caller (reply headers and watch events) and sends it as min_revision on
// every read, so a caller reads its own writes, and at least what it saw in
// an event, on whichever replica serves the read.
//
// Sessions: the client opens at most one session at a time (lazily, before
// the first write or ephemeral create, or with EnsureSession), keeps it alive
// over a KeepAlive stream, moves it to another replica when its replica dies
// (resume with id + secret) and reports connected / suspended / expired to
// listeners. After expiry the next operation that needs one opens a new
// session. Watches are resumed after a reconnect from the last revision they
// delivered: no event is missed or delivered twice.
//
// Errors: absl::Status with a canonical code (DESIGN.md §3 table) and the
// Synod ErrorCode as a payload; ErrorCodeOf(status) reads it back (both in
// synod/client_types.h, with the option and result structs).
//
// Thread-safety: every method may be called from any thread. Async callbacks,
// watch events and session listeners run on one client-owned callback thread,
// in order, and may call the client, including its blocking methods. Do not
// destroy the Client from inside one of its callbacks. Destruction closes
// the session (its ephemeral nodes go at once) without telling listeners,
// ends every watch without calling its done callback, completes pending
// async calls with CANCELLED and joins the client's two threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "synod/client_types.h"

namespace synod {

class Client {
 public:
  struct Options {
    // host:port of some replicas' client addresses; more are discovered.
    std::vector<std::string> endpoints;
    // Deadline of a call that passes no CallOptions.
    absl::Duration request_timeout = absl::Seconds(10);
    // One attempt gives up after this long (then retried elsewhere if safe),
    // so a hung replica does not eat the whole deadline.
    absl::Duration attempt_timeout = absl::Seconds(3);
    // Requested session timeout (the server clamps it).
    absl::Duration session_timeout = absl::Seconds(10);
    // Open a session before the first write so every write is exactly-once
    // and may be retried. Off: writes without a session are at-most-once.
    bool exactly_once_writes = true;
    // Exactly-once writes sent before the earlier ones have completed (1 to
    // 1024, the results a session keeps; later writes wait for a place).
    // 1, the default, applies a client's writes in the order issued, as a
    // ZooKeeper session does. Above 1, writes in flight together apply
    // once each but may apply out of order when one of them is retried (a
    // failover); without retries they keep their order on the Pipeline
    // stream. Unary calls (pipeline_calls off) may reorder at any time.
    int max_writes_in_flight = 1;
    // Learn the other members through Cluster.MemberList.
    bool discover_members = true;
    // Send tree calls to a replica on one Tree.Pipeline stream instead of a
    // gRPC call each: cheaper for client and replica when many calls are in
    // flight. Replicas without it get unary calls; requests over 512 KiB
    // always go as unary calls.
    bool pipeline_calls = true;
    // Start on a random endpoint (spreads clients over replicas).
    bool randomize_endpoints = true;
    // Retry backoff: starts at initial, doubles up to max, each delay drawn
    // uniformly from [delay/2, delay].
    absl::Duration initial_backoff = absl::Milliseconds(20);
    absl::Duration max_backoff = absl::Seconds(1);
    // TLS, PEM file paths. `cacert` set: the replicas are reached over TLS
    // and their certificates must be signed by this CA (and name the
    // address dialled). `cert` and `key` (both or neither, with `cacert`):
    // this client's certificate, for replicas started with
    // --tls_client_auth=request|require. All empty: plaintext.
    std::string cacert;
    std::string cert;
    std::string key;
    // A Synod user (auth.proto). With `user` set the client calls
    // Auth.Authenticate before its first call, sends the token with every
    // call, authenticates again shortly before the token expires, and once
    // more (then retries the call once) when a call fails UNAUTHENTICATED.
    // The password is kept in memory only, never logged.
    std::string user;
    std::string password;
    // ZooKeeper digest credentials, each "user:password", sent with every
    // call (as ZooKeeper's addauth): the caller also holds identity
    // digest:user:<base64 SHA-1 of user:password>.
    std::vector<std::string> digests;
  };

  // Validates the options and sets up channels; connects lazily (no RPC is
  // awaited). Errors: INVALID_ARGUMENT (no endpoints, malformed endpoint).
  static absl::StatusOr<std::unique_ptr<Client>> Connect(Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // --- Tree (blocking). Errors: the codes listed in tree.proto per method,
  // plus UNAVAILABLE / DEADLINE_EXCEEDED when no replica answered in time.
  absl::StatusOr<CreateResult> Create(absl::string_view path, absl::string_view data,
                                      const CreateOptions& options = {},
                                      const CallOptions& call = {});
  absl::StatusOr<GetResult> Get(absl::string_view path, const GetOptions& options = {},
                                const CallOptions& call = {});
  absl::StatusOr<ExistsResult> Exists(absl::string_view path, const ReadOptions& options = {},
                                      const CallOptions& call = {});
  absl::StatusOr<SetResult> Set(absl::string_view path, absl::string_view data,
                                int64_t expected_version = -1, const CallOptions& call = {});
  absl::StatusOr<DeleteResult> Delete(absl::string_view path, int64_t expected_version = -1,
                                      const CallOptions& call = {});
  absl::StatusOr<ChildrenResult> GetChildren(absl::string_view path,
                                             const ChildrenOptions& options = {},
                                             const CallOptions& call = {});
  // All ops apply or none. When an op fails the status is that op's error
  // ("op 2 (set /a): BAD_VERSION: ..."), with its code as the payload.
  absl::StatusOr<MultiResult> Multi(const std::vector<Op>& ops, const CallOptions& call = {});
  absl::StatusOr<HistoryResult> History(absl::string_view path, const HistoryOptions& options = {},
                                        const CallOptions& call = {});
  // Returns the revision the serving replica had applied once it caught up
  // with everything committed when the call arrived.
  absl::StatusOr<uint64_t> Sync(absl::string_view path = "/", const CallOptions& call = {});

  // --- Tree (async): `done` runs on the callback thread.
  template <typename T>
  using Callback = std::function<void(absl::StatusOr<T>)>;
  void CreateAsync(absl::string_view path, absl::string_view data, const CreateOptions& options,
                   const CallOptions& call, Callback<CreateResult> done);
  void GetAsync(absl::string_view path, const GetOptions& options, const CallOptions& call,
                Callback<GetResult> done);
  void ExistsAsync(absl::string_view path, const ReadOptions& options, const CallOptions& call,
                   Callback<ExistsResult> done);
  void SetAsync(absl::string_view path, absl::string_view data, int64_t expected_version,
                const CallOptions& call, Callback<SetResult> done);
  void DeleteAsync(absl::string_view path, int64_t expected_version, const CallOptions& call,
                   Callback<DeleteResult> done);
  void GetChildrenAsync(absl::string_view path, const ChildrenOptions& options,
                        const CallOptions& call, Callback<ChildrenResult> done);
  void MultiAsync(std::vector<Op> ops, const CallOptions& call, Callback<MultiResult> done);
  void HistoryAsync(absl::string_view path, const HistoryOptions& options, const CallOptions& call,
                    Callback<HistoryResult> done);
  void SyncAsync(absl::string_view path, const CallOptions& call, Callback<uint64_t> done);

  // --- Session.
  // Opens a session if there is none (or it expired); returns its id.
  absl::StatusOr<uint64_t> EnsureSession(const CallOptions& call = {});
  // 0 when there is none.
  uint64_t session_id() const;
  // The current session's secret (empty when none), as ZooKeeper's
  // getSessionPasswd: a write sent around this client through its session
  // (a raw WriteContext) must carry it.
  std::string session_secret() const;
  // The negotiated timeout of the current session (zero when none).
  absl::Duration session_timeout() const;
  SessionState session_state() const;
  // Ends the session now (its ephemeral nodes are deleted). No-op without one.
  absl::Status CloseSession(const CallOptions& call = {});
  // Listeners see every state change after they are added. Returns an id.
  int AddSessionListener(SessionListener listener);
  // Once it returns the listener is not running and will not be called (if
  // called from inside it: not after it returns).
  void RemoveSessionListener(int id);

  // --- Watches. Returns once the server acknowledged the watch (so events
  // after the acknowledgement, or after start_revision, will be seen).
  // Returns the watch id for CancelWatch.
  absl::StatusOr<uint64_t> Watch(absl::string_view path, const WatchOptions& options,
                                 WatchEventCallback on_event, WatchDoneCallback on_done = nullptr,
                                 const CallOptions& call = {});
  // Ends a watch. Once it returns, none of the watch's callbacks runs (if
  // called from one of them: none after that one returns). No-op for an
  // ended watch.
  void CancelWatch(uint64_t watch_id);

  // --- Cluster administration (Cluster service).
  absl::StatusOr<std::vector<Member>> MemberList(const CallOptions& call = {});
  // The status of the replica at `client_addr` ("" = any replica).
  absl::StatusOr<ReplicaStatus> GetStatus(absl::string_view client_addr = "",
                                          const CallOptions& call = {});
  absl::StatusOr<std::vector<Member>> MemberAdd(uint64_t id, absl::string_view peer_addr,
                                                absl::string_view client_addr,
                                                const CallOptions& call = {});
  absl::StatusOr<std::vector<Member>> MemberPromote(uint64_t id, const CallOptions& call = {});
  absl::StatusOr<std::vector<Member>> MemberRemove(uint64_t id, const CallOptions& call = {});
  absl::Status TransferLeader(uint64_t id, const CallOptions& call = {});
  // The cluster settings (a linearizable read).
  absl::StatusOr<ClusterSettings> GetSettings(const CallOptions& call = {});
  // Changes the cluster settings through the log (leader). Returns the
  // settings in force once the change applied. Errors: INVALID_ARGUMENT
  // (out of range, min above max, or a change of history_per_node).
  absl::StatusOr<ClusterSettings> SetSettings(const ClusterSettings& change,
                                              const CallOptions& call = {});
  // Subtree quotas: every one (path "") or `path`'s (NO_NODE if none), a
  // linearizable read; set (0: no limit in that dimension; INVALID_PATH,
  // INVALID_ARGUMENT) and delete (NO_NODE) through the log. A create or
  // set beyond a quota fails with QUOTA_EXCEEDED.
  absl::StatusOr<std::vector<Quota>> GetQuotas(absl::string_view path = "",
                                               const CallOptions& call = {});
  absl::Status SetQuota(absl::string_view path, int64_t max_nodes, int64_t max_bytes,
                        const CallOptions& call = {});
  absl::Status DeleteQuota(absl::string_view path, const CallOptions& call = {});
  // Streams a consistent snapshot from one replica into `file_path` (written
  // to a temporary name, checked against the stream's CRC32C, fsynced, then
  // renamed). The file is the server's snapshot format (storage/snapshot.h),
  // which `synod --restore` reads. Errors: DATA_LOSS when the
  // checksum or framing is wrong, INTERNAL for file errors.
  absl::StatusOr<SnapshotInfo> SaveSnapshot(const std::string& file_path,
                                            const CallOptions& call = {});

  // --- ACLs (Tree.GetAcl / SetAcl; security.cc). GetAcl errors: NO_NODE,
  // INVALID_PATH, PERMISSION_DENIED. SetAcl replaces the ACL (needs
  // PERM_ADMIN) if the node's aversion is `expected_aversion` (-1: any);
  // errors: NO_NODE, BAD_VERSION, INVALID_ACL, PERMISSION_DENIED.
  absl::StatusOr<AclResult> GetAcl(absl::string_view path, const ReadOptions& options = {},
                                   const CallOptions& call = {});
  absl::StatusOr<SetResult> SetAcl(absl::string_view path, const std::vector<AclEntry>& acl,
                                   int64_t expected_aversion = -1, const CallOptions& call = {});

  // --- Authentication (Auth service). The identities the calls of this
  // client authenticate as.
  absl::StatusOr<WhoAmIResult> WhoAmI(const CallOptions& call = {});
  // Users and the auth switch (admin right while auth is enabled). Errors:
  // USER_EXISTS, USER_NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION
  // (enable with no superuser; the last superuser), PERMISSION_DENIED.
  absl::Status UserAdd(absl::string_view name, absl::string_view password, bool superuser,
                       const CallOptions& call = {});
  absl::Status UserDelete(absl::string_view name, const CallOptions& call = {});
  absl::Status UserPasswd(absl::string_view name, absl::string_view password,
                          const CallOptions& call = {});
  absl::StatusOr<std::vector<UserInfo>> UserList(const CallOptions& call = {});
  absl::Status AuthEnable(const CallOptions& call = {});
  absl::Status AuthDisable(const CallOptions& call = {});
  // True if authentication is enabled.
  absl::StatusOr<bool> AuthStatus(const CallOptions& call = {});

  // The highest revision handed to the caller so far.
  uint64_t last_revision() const;
  // The endpoints currently known (seeds and discovered members).
  std::vector<std::string> endpoints() const;

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace synod
