// TreeStore: the replicated state of one replica (the tree, node history,
// watch-event log, sessions and the applied index / digest / compaction
// revision), with one RocksDB implementation (rocks_tree_store.h) and one
// in-memory reference implementation (memory_tree_store.h).
//
// The two implementations only store and read; ZooKeeper semantics live
// once, in storage/apply.h (writes) and in the TreeStore read methods below
// (reads), which are written once on top of a StateView.
//
// Threads: Commit, Restore and the Applier run on the apply thread only
// (one writer). Every read method and NewView may be called from any thread,
// concurrently with Commit; each read sees one consistent state (all of one
// committed batch or none of it) and reports the applied index it saw.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/util/message_differencer.h"
#include "storage/cluster_settings.h"
#include "storage/node.h"
#include "storage/write_set.h"
#include "synod/v1/command.pb.h"
#include "synod/v1/common.pb.h"
#include "synod/v1/watch.pb.h"

namespace synod::storage {

// What every committed batch records beside its changes.
struct StoreMeta {
  uint64_t applied_index = 0;     // revision of the last applied entry
  uint64_t digest = 0;            // tree digest at applied_index
  uint64_t compact_revision = 0;  // history/events below it are gone
  // The cluster settings the log recorded; nullopt until the first
  // SetSettingsCommand (apply then uses ClusterSettings' defaults).
  std::optional<ClusterSettings> settings;
  // Users, token key and the auth switch (command.proto AuthState); null
  // until the first auth command. Immutable once shared: a change replaces it.
  std::shared_ptr<const v1::AuthState> auth;
  // The subtree quotas with their usage (command.proto QuotaState); null
  // until the first quota. Immutable once shared, as `auth`.
  std::shared_ptr<const v1::QuotaState> quotas;

  // Compares the auth state and quotas by value (two loads of one state
  // are equal).
  bool operator==(const StoreMeta& other) const {
    return applied_index == other.applied_index && digest == other.digest &&
           compact_revision == other.compact_revision && settings == other.settings &&
           SameMessage(auth.get(), other.auth.get()) &&
           SameMessage(quotas.get(), other.quotas.get());
  }

  // True if both are null or both hold equal messages.
  static bool SameMessage(const google::protobuf::Message* a, const google::protobuf::Message* b) {
    if (a == nullptr || b == nullptr) return a == b;
    return google::protobuf::util::MessageDifferencer::Equals(*a, *b);
  }
};

// What apply reads. Errors: DataLoss (a stored record does not decode),
// Internal / Unavailable (the storage engine failed).
class StateReader {
 public:
  virtual ~StateReader() = default;
  virtual const StoreMeta& meta() const = 0;
  virtual absl::StatusOr<std::optional<Node>> GetNode(std::string_view path) = 0;
  virtual absl::StatusOr<std::optional<Session>> GetSession(uint64_t id) = 0;
  // GetNode for several paths at once (out[i] for paths[i]); a backend may
  // batch the lookups.
  virtual absl::Status GetNodes(const std::vector<std::string>& paths,
                                std::vector<std::optional<Node>>* out);
  // Paths of the session's ephemeral nodes, in byte order.
  virtual absl::Status ListEphemerals(uint64_t session_id, std::vector<std::string>* out) = 0;
  // The newest history seq of `path` (0 if it has no history).
  virtual absl::StatusOr<uint64_t> LastHistorySeq(std::string_view path) = 0;
  // Up to `limit` (0 = no limit) graves with revision <= max_revision, in
  // (revision, path) order.
  virtual absl::Status ListGraves(uint64_t max_revision, size_t limit, std::vector<Grave>* out) = 0;
  // The names of `parent`'s children, in byte order (none if it does not
  // exist).
  virtual absl::Status ListChildNames(std::string_view parent, std::vector<std::string>* out) = 0;
};

// One child in a listing.
struct ChildEntry {
  std::string name;
  Node node;
};

// A consistent, read-only view of one committed state (a rocksdb::Snapshot,
// or a reader lock on the memory store). Use it briefly and from one thread;
// while a MemoryTreeStore view lives, that store's Commit waits.
// Errors of every method: as StateReader.
class StateView : public StateReader {
 public:
  // Up to `limit` children of `parent` (0 = no limit) whose names are >
  // `start_after` (empty = from the first), in byte order of name.
  virtual absl::Status ListChildren(std::string_view parent, std::string_view start_after,
                                    size_t limit, std::vector<ChildEntry>* out) = 0;
  // Through ListChildren, a page at a time.
  absl::Status ListChildNames(std::string_view parent, std::vector<std::string>* out) final;
  // Calls fn(seq, entry) for the path's history, newest first, until fn
  // returns false.
  virtual absl::Status ScanHistory(
      std::string_view path, const std::function<bool(uint64_t seq, const HistoryEntry&)>& fn) = 0;
  // Events with revision > after, in order: at least `limit` (0 = no limit)
  // unless there are fewer, and never a revision cut in two (the last
  // revision is always complete, so a caller resumes after it).
  virtual absl::Status ListEvents(uint64_t after_revision, size_t limit,
                                  std::vector<v1::WatchEvent>* out) = 0;
  virtual absl::Status ListSessions(std::vector<Session>* out) = 0;
  // Paths of TTL and container nodes, in byte order.
  virtual absl::Status ListExpiryCandidates(std::vector<std::string>* out) = 0;

  // Full scans, in no particular order (snapshots, dumps, tests).
  virtual absl::Status ForEachNode(
      const std::function<absl::Status(std::string_view path, const Node&)>& fn) = 0;
  virtual absl::Status ForEachHistory(
      const std::function<absl::Status(std::string_view path, uint64_t seq, const HistoryEntry&)>&
          fn) = 0;
};

// ---- Results of the read API. `code` is the Synod outcome (OK, NO_NODE,
// INVALID_PATH, COMPACTED, INVALID_ARGUMENT); `revision` is the applied
// index of the state the read saw, set whatever the code. ----

struct NodeResult {
  v1::ErrorCode code = v1::OK;
  std::string message;  // why, when the code alone does not say (versioned reads)
  uint64_t revision = 0;
  NodeStat stat;
  // The ACL that guards what was read: the node's, or for a read at a past
  // version or revision that version's history entry's (when a versioned
  // read fails after finding the path: the newest entry's for GetAtVersion,
  // the oldest kept one's for GetAtRevision).
  Acl acl;
  std::string data;
  bool data_null = false;  // Node::data_null (current reads only)
};

struct ExistsResult {
  v1::ErrorCode code = v1::OK;  // OK or INVALID_PATH; absent is not an error
  uint64_t revision = 0;
  bool exists = false;
  NodeStat stat;
};

struct ChildrenResult {
  v1::ErrorCode code = v1::OK;
  uint64_t revision = 0;
  NodeStat parent_stat;
  Acl parent_acl;                  // guards the listing
  std::vector<std::string> names;  // byte order
  std::vector<NodeStat> stats;     // parallel to names if asked for
  bool has_more = false;           // more children after names.back()
};

struct HistoryResult {
  v1::ErrorCode code = v1::OK;
  uint64_t revision = 0;
  uint64_t compact_revision = 0;
  // Guards the listing: the node's ACL, or if it is deleted, the ACL its
  // newest retained version had.
  Acl acl;
  std::vector<HistoryEntry> versions;  // newest first
};

struct SessionResult {
  uint64_t revision = 0;
  std::optional<Session> session;
};

struct EventsResult {
  v1::ErrorCode code = v1::OK;  // OK or COMPACTED
  uint64_t revision = 0;
  std::vector<v1::WatchEvent> events;  // revision order
  bool has_more = false;               // more events after the last one
};

// Metadata of a snapshot file (storage/snapshot.h).
class FileIO;

struct SnapshotInfo {
  uint32_t format_version = 0;
  StoreMeta meta;
  uint64_t bytes = 0;        // of the file
  uint64_t plain_bytes = 0;  // of the records before compression (the work a snapshot is)
  uint64_t checksum = 0;
};

class TreeStore {
 public:
  virtual ~TreeStore() = default;

  // ---- Reads (any thread). The absl::Status is a storage failure
  // (DataLoss, Internal): the replica should stop. Synod outcomes are in the
  // result's code. ----

  // The node now. Codes: NO_NODE, INVALID_PATH.
  absl::StatusOr<NodeResult> Get(std::string_view path);
  // The node at data version `version` of its latest incarnation (the current
  // one, or the last one before its delete). Codes: NO_NODE (no such path),
  // INVALID_ARGUMENT (< 0, or above the incarnation's last version),
  // COMPACTED (that version was dropped by the per-node bound or is below
  // the compaction revision), INVALID_PATH. Every code but NO_NODE comes
  // with a message saying which case it is.
  absl::StatusOr<NodeResult> GetAtVersion(std::string_view path, int64_t version);
  // The node as it was at `revision` (data and stat as of its data version
  // then; cversion/num_children as of that data version). Codes: NO_NODE
  // (did not exist then), COMPACTED (revision < compaction revision, or the
  // version it had then is no longer retained), INVALID_PATH,
  // INVALID_ARGUMENT (revision ahead of the applied index).
  absl::StatusOr<NodeResult> GetAtRevision(std::string_view path, uint64_t revision);
  // Codes: INVALID_PATH.
  absl::StatusOr<ExistsResult> Exists(std::string_view path);
  // A page of children with names > start_after (empty = first page), at
  // most `limit` (0 = all; the server caps it). Codes: NO_NODE, INVALID_PATH.
  absl::StatusOr<ChildrenResult> GetChildren(std::string_view path, std::string_view start_after,
                                             size_t limit, bool include_stats);
  // Retained versions newest first (tombstones included), at most `limit`
  // (0 = all). Codes: NO_NODE (never existed, or nothing left after
  // compaction), INVALID_PATH.
  absl::StatusOr<HistoryResult> History(std::string_view path, size_t limit);
  absl::StatusOr<SessionResult> GetSession(uint64_t session_id);
  // Every session (a new leader restarts their clocks).
  absl::StatusOr<std::vector<Session>> ListSessions();
  // Watch events with revision > after_revision: about `limit` (0 = all),
  // whole revisions only (resume after the last event's revision). Codes: COMPACTED (after_revision
  // < compaction revision: some events after it are gone).
  absl::StatusOr<EventsResult> EventsAfter(uint64_t after_revision, size_t limit);
  // TTL nodes and empty containers that a DeleteExpiredCommand stamped with
  // now_ms would delete, at most `limit` (0 = all), in byte order. For the
  // leader; apply checks each again.
  absl::StatusOr<std::vector<std::string>> FindExpired(int64_t now_ms, size_t limit);

  // The last committed meta (applied index, digest, compaction revision).
  virtual StoreMeta meta() = 0;

  // The per-node history bound this store's layout is built for (the
  // Applier's must be the same), or 0 if it takes any.
  virtual uint32_t history_ring() const { return 0; }
  // Lays the history out for another bound, keeping the newest `ring`
  // versions of each path (apply thread; the Applier calls it when the
  // recorded settings ask for another bound than history_ring()). Errors:
  // InvalidArgument (0), storage failures.
  virtual absl::Status ResizeHistoryRing(uint32_t /*ring*/) { return absl::OkStatus(); }

  // A consistent read view of the current state. Errors: Internal.
  virtual absl::StatusOr<std::unique_ptr<StateView>> NewView() = 0;

  // ---- Writes (apply thread only). ----

  // Commits `ws` atomically with ws.applied_index and ws.digest. A no-op if
  // ws.applied_index <= the stored applied index. Not synced: the Raft log is
  // the durable record and is replayed from the applied index after a crash.
  // Errors: Internal/DataLoss/ResourceExhausted from the engine (fatal for
  // the replica: state and log may no longer agree); FailedPrecondition
  // while a snapshot restore is unfinished.
  virtual absl::Status Commit(const WriteSet& ws) = 0;

  // Snapshots (storage/snapshot_format.h holds the file format). `io`: the
  // file system (null: FileIO::Posix()).
  // Writes a consistent snapshot of the whole state to a new file at
  // `file_path`, not synced (SnapshotFiles::Publish syncs what it names).
  // Errors: AlreadyExists, Internal (I/O), DataLoss.
  absl::StatusOr<SnapshotInfo> WriteSnapshot(const std::string& file_path, FileIO* io = nullptr);
  // Replaces the whole state by the snapshot at `file_path`. The file is
  // verified completely (version, checksum, digest) before any state is
  // touched. If it fails after that (I/O), the store refuses Commit until a
  // restore succeeds. Errors: DataLoss (damaged file or digest mismatch),
  // FailedPrecondition (unknown format version), NotFound, Internal.
  absl::StatusOr<SnapshotInfo> RestoreSnapshot(const std::string& file_path,
                                               FileIO* io = nullptr);

 protected:
  // Restore hooks, apply thread only. BeginRestore marks the store as being
  // restored (a store that opens with the mark refuses to open) and drops all
  // state; `target` is the meta the restore ends with (its settings say how
  // many versions per path the chunks bring); RestoreChunk adds records
  // (nodes with their index entries, history, sessions, events; a
  // revision's events never span two chunks);
  // FinishRestore sets the meta and clears the mark. Graves come in the
  // chunks' `graves`.
  virtual absl::Status BeginRestore(const StoreMeta& target) = 0;
  virtual absl::Status RestoreChunk(const WriteSet& ws) = 0;
  virtual absl::Status FinishRestore(const StoreMeta& meta) = 0;
};

}  // namespace synod::storage
