// Apply: the ZooKeeper semantics of Synod's writes, in one place.
//
// ApplyCommand is a pure function of (state, command, revision): it reads
// through an Overlay and writes the deltas, results and watch events into
// it. It reads no clock (time is the command's leader_time_ms), no
// randomness and no local configuration: the limits that change an outcome
// are the cluster settings the state records (storage/cluster_settings.h),
// which only the log sets. ApplyLimits stands in for them while the state
// records none; the server passes the compiled defaults, never its flags.
//
// Applier runs batches of committed entries: one Overlay over one StateView
// for the batch, one TreeStore::Commit with the batch's last index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "storage/overlay.h"
#include "storage/tree_store.h"
#include "synod/v1/command.pb.h"

namespace synod::storage {

// Deterministic limits; identical on all replicas. The first six are
// replaced by the state's recorded ClusterSettings (EffectiveLimits).
struct ApplyLimits {
  int64_t max_data_bytes = ClusterSettings().max_data_bytes;  // larger data -> TOO_LARGE
  size_t max_multi_ops = ClusterSettings().max_multi_ops;      // more ops -> TOO_MANY_OPS
  // Versions kept per path (current version and tombstones included); >= 1.
  uint32_t history_per_node = ClusterSettings().history_per_node;
  // open_session timeouts are clamped into [min, max].
  int64_t min_session_timeout_ms = ClusterSettings().min_session_timeout_ms;
  int64_t max_session_timeout_ms = ClusterSettings().max_session_timeout_ms;
  // More ephemerals in one session -> QUOTA_EXCEEDED.
  int64_t max_ephemerals_per_session = ClusterSettings().max_ephemerals_per_session;
  // Deleted paths whose history one CompactHistoryCommand drops at most;
  // the rest wait for the next one (bounds the work of one apply).
  size_t purge_per_compaction = 10000;
};

// `limits` with the settings `meta` records, if any.
ApplyLimits EffectiveLimits(const ApplyLimits& limits, const StoreMeta& meta);

// One committed log entry. command == nullptr: an entry with no state change
// (Raft no-op, configuration change) that still advances the applied index.
struct ApplyEntry {
  uint64_t index = 0;
  const v1::Command* command = nullptr;
};

struct EntryOutcome {
  uint64_t index = 0;
  // The entry was at or below the applied index when the batch started
  // (replay after a restart): nothing was done, result and events are empty.
  bool skipped = false;
  v1::CommandResult result;
  std::vector<v1::WatchEvent> events;  // in order, all at revision `index`
};

// Applies `command` as the entry at `revision`. Synod outcomes go to
// `result` (and bad input changes nothing); the absl::Status is only a
// storage failure. Results:
//  - ACLs (storage/acl.h), checked for command.caller as ZooKeeper's
//    PrepRequestProcessor checks them: create needs PERM_CREATE on the
//    parent, delete PERM_DELETE on the parent, set PERM_WRITE, check
//    PERM_READ, set_acl PERM_ADMIN on the node; the superuser bypasses
//    them; a caller without identities matches world:anyone only.
//    Denied: PERMISSION_DENIED. Order per op: path, the given ACL
//    (create, set_acl: INVALID_ACL), the node or parent (NO_NODE), the
//    permission, then versions and the rest. Internal commands
//    (expire_sessions, delete_expired, container removal) are not checked.
//    Every watch event carries the ACL of its node (the parent's for
//    EVENT_NODE_CHILDREN_CHANGED, the deleted node's last one for
//    EVENT_NODE_DELETED), empty when open; history entries carry the ACL
//    the node had at that version.
//  - txn: code = OK or the first failing op's code; one OpResult per op.
//    A multi that fails changes nothing: its failing op has its code, the
//    ops before it ROLLED_BACK, the ops after it RUNTIME_INCONSISTENCY.
//    Command-level refusals have no per-op results: TOO_MANY_OPS,
//    INVALID_ARGUMENT (a non-multi txn without exactly one op),
//    SESSION_EXPIRED (write.session_id names no live session),
//    PERMISSION_DENIED (the caller does not hold every identity of the
//    session's owner, its opener's non-ip identities, and is not the
//    superuser; checked before a repeat is answered).
//  - set_acl op: aversion + 1 and the new ACL; BAD_VERSION if
//    expected_aversion (absent or -1: any) differs. No data version: no
//    history entry and no watch event (as ZooKeeper).
//  - exactly-once (write.session_id != 0 and write.sequence != 0):
//    sequence == the session's last one: the stored result, nothing applied;
//    sequence < it: DEADLINE_EXCEEDED (that result is no longer kept, so
//    whether it applied is unknown to the caller), nothing applied;
//    sequence > it: applied, and (sequence, result) stored.
//  - open_session: session_id = revision, owned by the caller's non-ip
//    identities; the timeout granted is the one asked for, clamped into the settings'
//    [min_session_timeout_ms, max_session_timeout_ms].
//  - set_settings: OK with the settings in force after it (a bootstrap one
//    when settings are recorded already: OK, nothing changes);
//    INVALID_ARGUMENT, nothing changed, if the result is not valid
//    (ValidateSettings) or a change (not bootstrap) alters history_per_node.
//  - close_session: SESSION_EXPIRED if unknown, PERMISSION_DENIED as a
//    session write; expire_sessions: OK (unknown ids ignored). Both delete
//    the sessions' ephemerals.
//  - user_put / user_delete / auth_set (command.proto): OK; INVALID_ARGUMENT
//    (a name empty, over 64 bytes or outside [A-Za-z0-9._@-]; an empty
//    hash, 0 iterations; enabling with an empty token key); USER_EXISTS,
//    USER_NOT_FOUND; FAILED_PRECONDITION (a 1,001st user, enabling with no
//    superuser user, deleting or demoting the last superuser while
//    enabled); PERMISSION_DENIED (while enabled, a caller other than the
//    superuser, except a user changing its own password with its role
//    unchanged). Users are kept sorted by name; password_revision is set
//    to the revision on create and on a password change; the token key is
//    the first user_put's while the state has none, and each enabling
//    auth_set's. A command that changes nothing writes no auth state.
//  - quotas (storage/quota.h): a create or set op that would take a
//    subtree quota at or above its path over its node or byte limit fails
//    with QUOTA_EXCEEDED, as does an ephemeral create beyond the settings'
//    max_ephemerals_per_session for its session; checked after every other
//    check of the op. quota_set / quota_delete (command.proto): OK;
//    INVALID_PATH; INVALID_ARGUMENT (a negative limit, both 0, a 1,001st
//    quota); NO_NODE (delete of a path with no quota); PERMISSION_DENIED
//    (while auth is enabled, a caller other than the superuser). A new
//    quota starts with the usage of the subtree as it is.
//  - delete_expired: one OpResult per path; OK if deleted, else why not:
//    NO_NODE, NOT_EMPTY, INVALID_PATH, BAD_VERSION (not a TTL node or
//    container, or not expired at leader_time_ms: see ExpiredAt).
//    Containers emptied by any delete are removed in the same apply.
//  - digest_check: DATA_LOSS if `digest_at` says this replica's digest at
//    that revision differs (the replica must stop), else OK.
//  - compact_history: OK (a revision below the current one is ignored;
//    above the revision being applied: INVALID_ARGUMENT). Also drops the
//    history of paths deleted at or below the compaction revision (at most
//    purge_per_compaction of them per command).
// `digest_at(rev)` returns the digest after entry `rev` if known.
absl::Status ApplyCommand(const ApplyLimits& limits, uint64_t revision, const v1::Command& command,
                          Overlay* state,
                          const std::function<std::optional<uint64_t>(uint64_t)>& digest_at,
                          v1::CommandResult* result);

// Applies batches of log entries to a store: reads the nodes the batch
// names (the ones it wrote itself from a small cache of its own, the rest
// in one batched lookup), applies each command to an Overlay, commits the
// whole batch as one WriteSet.
// Thread: the apply thread only.
class Applier {
 public:
  // `store` must outlive the Applier.
  Applier(TreeStore* store, const ApplyLimits& limits);

  // Applies `entries` (strictly increasing indexes) and commits them in one
  // batch (split after each set_settings command, so that the commands after
  // it apply with the store laid out for its history bound). When the
  // recorded settings ask for another history bound than the store's ring,
  // the store is resized first. Returns one outcome per entry. Errors:
  // storage failures (fatal for the replica), InvalidArgument if indexes do
  // not increase, FailedPrecondition if the store's ring differs from
  // `limits` while the state records no settings.
  absl::StatusOr<std::vector<EntryOutcome>> ApplyBatch(absl::Span<const ApplyEntry> entries);

  // The digest after applying entry `revision`, if it is among the recent
  // entries this Applier remembers (for DigestCheck).
  std::optional<uint64_t> DigestAt(uint64_t revision) const;

 private:
  void RememberDigest(uint64_t revision, uint64_t digest);
  // One commit: ApplyBatch without the split.
  absl::StatusOr<std::vector<EntryOutcome>> ApplyOneBatch(absl::Span<const ApplyEntry> entries);

  // Empties the node cache.
  void DropNodeCache();
  // Takes the batch's node writes into the node cache.
  void CacheWrites(const WriteSet& ws);

  TreeStore* store_;
  ApplyLimits limits_;
  // The nodes this Applier wrote, as committed (nullopt: deleted), valid for
  // the store state at node_cache_index_: the hot nodes of the next batches
  // come from here instead of a RocksDB lookup. Emptied when the store's
  // applied index is not that one (a restore, another writer) and when it
  // outgrows kNodeCacheBytes.
  absl::flat_hash_map<std::string, std::optional<Node>> node_cache_;
  size_t node_cache_bytes_ = 0;
  uint64_t node_cache_index_ = 0;
  // (revision, digest after it), oldest first, bounded.
  std::deque<std::pair<uint64_t, uint64_t>> recent_digests_;
};

}  // namespace synod::storage
