// The values synod::Client takes and returns: Synod error codes, ZooKeeper's
// Stat and ACL entries, per-call options and results, watch and session
// kinds, cluster administration records. Plain structs and enums (abseil
// only); included by synod/client.h, which is what users include.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace synod {

// Mirrors synod.v1.ErrorCode (proto/synod/v1/common.proto), value for value.
enum class [[nodiscard]] ErrorCode : int {
  kOk = 0,
  kNoNode = 1,
  kNodeExists = 2,
  kBadVersion = 3,
  kNotEmpty = 4,
  kNoChildrenForEphemerals = 5,
  kInvalidPath = 6,
  kSessionExpired = 7,
  kTooLarge = 8,
  kNotLeader = 9,
  kCompacted = 10,
  kUnavailable = 11,
  kTooManyOps = 12,
  kInvalidArgument = 13,
  kRolledBack = 14,
  kRuntimeInconsistency = 15,
  kAuthFailed = 16,
  kDeadlineExceeded = 17,
  kDataLoss = 18,
  kInternal = 19,
  kMemberExists = 20,
  kMemberNotFound = 21,
  kLearnerNotReady = 22,
  kMembershipChangeInProgress = 23,
  kUnsafeMembershipChange = 24,
  kWatchOverflow = 25,
  kEphemeralNeedsSession = 26,
  kResourceExhausted = 27,
  kRevisionAhead = 28,
  kTooManyWatches = 29,
  kPermissionDenied = 30,
  kUnauthenticated = 31,
  kInvalidAcl = 32,
  kQuotaExceeded = 33,
  kFailedPrecondition = 34,
  kUserExists = 35,
  kUserNotFound = 36,
  // Not a wire code: the server sent one this client does not know, or the
  // failure happened in the client (e.g. CANCELLED at shutdown).
  kUnknown = 1000,
};

// "BAD_VERSION" etc. (the proto enum names); "UNKNOWN" for kUnknown.
absl::string_view ErrorCodeName(ErrorCode code);
// Inverse of ErrorCodeName; nullopt for a name that is not a code.
std::optional<ErrorCode> ErrorCodeFromName(absl::string_view name);
// The canonical absl code a Synod code maps to (DESIGN.md §3 table).
absl::StatusCode StatusCodeFor(ErrorCode code);
// An error status carrying `code` as its payload; message "NAME: message"
// ("NAME" alone when `message` is empty).
absl::Status SynodError(ErrorCode code, absl::string_view message);
// The Synod code of a status: kOk for OK; the payload when there is one;
// otherwise derived from the canonical code (e.g. UNAVAILABLE, or kUnknown).
ErrorCode ErrorCodeOf(const absl::Status& status);

// ZooKeeper's Stat, field for field (see DESIGN.md §2).
struct Stat {
  uint64_t czxid = 0;
  uint64_t mzxid = 0;
  uint64_t pzxid = 0;
  int64_t ctime = 0;  // ms since the epoch, leader clock
  int64_t mtime = 0;
  int64_t version = 0;
  int64_t cversion = 0;
  int64_t aversion = 0;
  uint64_t ephemeral_owner = 0;
  int64_t data_length = 0;
  int64_t num_children = 0;
  bool operator==(const Stat&) const = default;
};

enum class CreateMode {
  kPersistent,
  kEphemeral,
  kPersistentSequential,
  kEphemeralSequential,
  kContainer,
  kPersistentWithTtl,
  kPersistentSequentialWithTtl,
};
bool IsEphemeral(CreateMode mode);

enum class Consistency {
  kLinearizable,  // ReadIndex: sees every write acknowledged before the read
  kSerializable,  // the serving replica's state as it is (may be behind)
};

struct ReadOptions {
  Consistency consistency = Consistency::kLinearizable;
  // Wait until the serving replica has applied this revision. The client
  // raises it to the highest revision it has handed out (read-your-writes).
  uint64_t min_revision = 0;
};

// Per-call deadline. Unset = now + Options::request_timeout.
struct CallOptions {
  std::optional<absl::Time> deadline;
  static CallOptions Timeout(absl::Duration timeout) { return {absl::Now() + timeout}; }
};

// ZooKeeper's permission bits (synod.v1.Perm), for AclEntry::perms.
inline constexpr uint32_t kPermRead = 1;    // get data, list children, get the ACL
inline constexpr uint32_t kPermWrite = 2;   // set data
inline constexpr uint32_t kPermCreate = 4;  // create children
inline constexpr uint32_t kPermDelete = 8;  // delete children
inline constexpr uint32_t kPermAdmin = 16;  // set the ACL
inline constexpr uint32_t kPermAll = 31;

// One ZooKeeper ACL entry (synod.v1.Acl): callers with identity scheme:id
// may do `perms` on the node. Schemes: world (id "anyone"), auth (the
// caller's own identities, in a create or SetAcl only), digest
// ("user:base64(SHA-1(user:password))"), ip, x509, user.
struct AclEntry {
  uint32_t perms = 0;
  std::string scheme;
  std::string id;
  bool operator==(const AclEntry&) const = default;
};

// One identity a call authenticated as (synod.v1.Identity).
struct Identity {
  std::string scheme;
  std::string id;
  bool operator==(const Identity&) const = default;
};

struct CreateOptions {
  CreateMode mode = CreateMode::kPersistent;
  absl::Duration ttl = absl::ZeroDuration();  // required > 0 for TTL modes
  // The node's ACL; empty: world:anyone with every permission.
  std::vector<AclEntry> acl = {};
};
struct CreateResult {
  std::string path;  // with the sequence suffix for sequential modes
  Stat stat;
  uint64_t revision = 0;  // the serving replica's applied revision
};

struct GetOptions {
  ReadOptions read;
  std::optional<int64_t> version;  // the node as of this data version
  uint64_t revision = 0;           // the node as it was at this revision
};
struct GetResult {
  std::string data;
  Stat stat;
  uint64_t revision = 0;
};

struct ExistsResult {
  bool exists = false;
  Stat stat;  // when exists
  uint64_t revision = 0;
};

struct SetResult {
  Stat stat;
  uint64_t revision = 0;
};

struct AclResult {
  std::vector<AclEntry> acl;  // never empty: an open node shows world:anyone
  Stat stat;
  uint64_t revision = 0;
};

struct WhoAmIResult {
  std::vector<Identity> ids;
  bool superuser = false;
};

struct UserInfo {
  std::string name;
  bool superuser = false;
};

struct DeleteResult {
  uint64_t revision = 0;
};

struct ChildrenOptions {
  ReadOptions read;
  // 0: every child (all pages). N: at most N, and next_page_token to go on.
  uint32_t limit = 0;
  std::string page_token;  // continue a limited listing
  bool include_stat = false;
};
struct ChildrenResult {
  std::vector<std::string> children;  // names, in byte order
  std::vector<Stat> child_stats;      // parallel to children if include_stat
  Stat stat;                          // the parent's stat
  std::string next_page_token;        // empty when the listing is complete
  uint64_t revision = 0;
};

// One op of a Multi.
struct Op {
  enum class Type { kCreate, kSet, kDelete, kCheck };
  Type type = Type::kCheck;
  std::string path;
  std::string data;               // create, set
  CreateOptions create;           // create
  int64_t expected_version = -1;  // set, delete, check: -1 = any

  static Op Create(std::string path, std::string data, CreateOptions options = {});
  static Op Set(std::string path, std::string data, int64_t expected_version = -1);
  static Op Delete(std::string path, int64_t expected_version = -1);
  static Op Check(std::string path, int64_t expected_version = -1);
};
struct OpResult {
  ErrorCode code = ErrorCode::kOk;
  std::string path;  // create: the created path
  Stat stat;         // create / set: the new stat
};
struct MultiResult {
  std::vector<OpResult> results;  // one per op
  uint64_t revision = 0;
};

struct HistoryOptions {
  ReadOptions read;
  uint32_t limit = 0;  // 0 = every retained version
};
struct NodeVersion {
  std::string data;
  Stat stat;
  bool deleted = false;  // a tombstone: the node was deleted at deleted_revision
  uint64_t deleted_revision = 0;
};
struct HistoryResult {
  std::vector<NodeVersion> versions;  // newest first
  uint64_t compact_revision = 0;      // reads below this fail with COMPACTED
  uint64_t revision = 0;
};

enum class SessionState {
  kConnected,  // heartbeats are acknowledged
  kSuspended,  // the replica was lost; reconnecting (ephemerals still held)
  kExpired,    // the session is gone; its ephemerals are (or will be) deleted
  kClosed,     // closed by the caller
};
absl::string_view SessionStateName(SessionState state);
using SessionListener = std::function<void(SessionState state, uint64_t session_id)>;

enum class WatchKind {
  kData,                 // one-shot: data change or delete of the node
  kChildren,             // one-shot: child create/delete, or node delete
  kExists,               // one-shot: create, data change or delete
  kPersistent,           // every event on the node and its child list
  kPersistentRecursive,  // every event on the node and its subtree
};
bool IsOneShot(WatchKind kind);

enum class EventType { kNodeCreated, kNodeDeleted, kNodeDataChanged, kNodeChildrenChanged };
absl::string_view EventTypeName(EventType type);  // "NODE_CREATED" etc.

struct WatchEvent {
  EventType type = EventType::kNodeCreated;
  std::string path;
  uint64_t revision = 0;
  Stat stat;  // after the event; zero on delete
};

struct WatchOptions {
  WatchKind kind = WatchKind::kPersistent;
  // Deliver every matching event after this revision (from history when in
  // the past, or fail with COMPACTED). 0 = from registration on.
  uint64_t start_revision = 0;
  // Ask the server to drop the watch with the session (opens one if needed).
  bool bind_to_session = false;
};
// Runs on the callback thread, in revision order, each event once.
using WatchEventCallback = std::function<void(const WatchEvent& event)>;
// Runs once when the server ends the watch: OK when a one-shot watch fired,
// else the reason (COMPACTED, INVALID_PATH, SESSION_EXPIRED...). No event
// follows it. Not called after CancelWatch or when the client is destroyed.
using WatchDoneCallback = std::function<void(const absl::Status& status)>;

// Cluster administration.
struct Member {
  uint64_t id = 0;
  std::string peer_addr;
  std::string client_addr;
  bool learner = false;
};
enum class Role { kFollower, kCandidate, kPreCandidate, kLeader, kLearner };
absl::string_view RoleName(Role role);  // "follower" etc.
struct MemberStatus {
  Member member;
  uint64_t match_index = 0;  // leader only
  bool reachable = false;
};
struct ReplicaStatus {
  uint64_t id = 0;
  Role role = Role::kFollower;
  uint64_t term = 0;
  uint64_t leader_id = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t digest = 0;
  std::vector<MemberStatus> members;
  uint64_t snapshot_index = 0;
  uint64_t log_first_index = 0;
  std::string version;
  uint64_t revision = 0;
};
// The limits recorded in the log that decide a write's outcome on every
// replica (Cluster.SettingsGet / SettingsSet). In a change, a field left 0
// keeps its value; history_per_node cannot change once recorded.
struct ClusterSettings {
  int64_t max_data_bytes = 0;
  int32_t max_multi_ops = 0;
  int32_t history_per_node = 0;
  int64_t min_session_timeout_ms = 0;
  int64_t max_session_timeout_ms = 0;
  int64_t max_ephemerals_per_session = 0;
  // Read: false until the cluster's first leader recorded its settings (the
  // values are then the defaults apply uses meanwhile).
  bool recorded = false;
  uint64_t revision = 0;  // of the replica's state that answered
};
// A subtree quota (Cluster.QuotaGet): limits (0: none) and the usage of
// `path` and everything below it.
struct Quota {
  std::string path;
  int64_t max_nodes = 0;
  int64_t max_bytes = 0;
  int64_t used_nodes = 0;
  int64_t used_bytes = 0;
};
struct SnapshotInfo {
  uint64_t applied_index = 0;
  uint64_t applied_term = 0;
  uint64_t digest = 0;
  uint64_t bytes = 0;  // data bytes received
  uint32_t crc32c = 0;
};

}  // namespace synod
