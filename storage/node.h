// The records of the replicated state: nodes, their history entries and
// client sessions, with their byte encodings (store format: format.h) and the
// per-node digest term.
//
// Plain value types; no thread rules of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "storage/acl.h"
#include "synod/v1/common.pb.h"

namespace synod::storage {

// ZooKeeper's Stat (DESIGN §2), field for field as common.proto's Stat.
struct NodeStat {
  uint64_t czxid = 0;
  uint64_t mzxid = 0;
  uint64_t pzxid = 0;
  int64_t ctime = 0;
  int64_t mtime = 0;
  int64_t version = 0;
  int64_t cversion = 0;
  int64_t aversion = 0;
  uint64_t ephemeral_owner = 0;
  int64_t data_length = 0;
  int64_t num_children = 0;

  bool operator==(const NodeStat&) const = default;
};

v1::Stat ToProto(const NodeStat& stat);
void ToProto(const NodeStat& stat, v1::Stat* out);

// How a node lives and dies. Sequential is a naming rule, not a kind.
enum class NodeKind : uint8_t {
  kPersistent = 0,
  kEphemeral = 1,  // stat.ephemeral_owner is its session; no children
  kContainer = 2,  // deleted when its last child goes (once it had one)
  kTtl = 3,        // deleted ttl_ms after its last data change, if childless
};

struct Node {
  NodeStat stat;
  NodeKind kind = NodeKind::kPersistent;
  int64_t ttl_ms = 0;  // > 0 iff kind == kTtl
  // Sequence number of this version's history entry (see format.h): the
  // newest history entry of the path while the node exists.
  uint64_t history_seq = 0;
  Acl acl;  // empty: open to everyone (storage/acl.h)
  std::string data;
  // ZooKeeper's null data (v1.CreateOp.null_data): `data` is empty.
  bool data_null = false;

  bool operator==(const Node&) const = default;
};

// One retained version of a path: a data version written at `revision`
// (create or set), or a tombstone (the node was deleted at `revision`; stat
// is the deleted node's last stat, data is empty).
struct HistoryEntry {
  uint64_t revision = 0;
  bool deleted = false;
  NodeStat stat;
  Acl acl;  // the node's ACL at this version (before a delete)
  std::string data;

  bool operator==(const HistoryEntry&) const = default;
};

// A deleted path whose history waits for compaction: when the compaction
// revision reaches `revision` and the path was not created again, its whole
// history (ending with the tombstone `seq`) is dropped, so paths that come
// and go (queues, ephemerals) do not leave history behind forever.
struct Grave {
  uint64_t revision = 0;  // of the delete
  std::string path;
  uint64_t seq = 0;  // the tombstone's history seq

  bool operator==(const Grave&) const = default;
};

// One identity of a session's owner (scheme and id as in v1::Identity).
struct SessionOwnerId {
  std::string scheme;
  std::string id;

  bool operator==(const SessionOwnerId&) const = default;
};

// A session keeps at most this many unacknowledged exactly-once results
// (WriteContext.lowest_unacked); writes past it are refused.
inline constexpr size_t kMaxSessionResults = 1024;

// The stored result of one exactly-once write of a session.
struct WriteResult {
  uint64_t sequence = 0;
  std::string result;  // a serialized v1::CommandResult

  bool operator==(const WriteResult&) const = default;
};

// A client session as replicated: what exactly-once needs, nothing about
// liveness (the leader's clock is not replicated state).
struct Session {
  uint64_t id = 0;  // the revision that opened it
  int64_t timeout_ms = 0;
  std::string secret;
  // The identities of the caller that opened it, ip ones left out (a
  // client may reconnect from another address): only a caller holding
  // all of these (or the superuser) may write through it or close it.
  // Empty: an anonymous session.
  std::vector<SessionOwnerId> owner;
  // How many ephemeral nodes the session holds (the overlay keeps it with
  // the ephemerals index), for the cluster's per-session limit.
  uint64_t ephemerals = 0;
  // Exactly-once (WriteContext): the client has the results of every
  // sequence below `acked_below`; `results` holds the serialized
  // v1::CommandResult of each applied sequence at or above it, by sequence.
  uint64_t acked_below = 0;
  std::vector<WriteResult> results;

  bool operator==(const Session&) const = default;
};

// The root "/" of a fresh store (all stat fields 0, revision 0) and its one
// history entry (seq 1). Both backends start from exactly this state.
Node InitialRoot();
HistoryEntry InitialRootHistory();

// True if a DeleteExpiredCommand stamped `now_ms` deletes `node`: a TTL node
// with no children whose last data change is at least ttl_ms old, or a
// container with no children that has had one (cversion > 0).
bool ExpiredAt(const Node& node, int64_t now_ms);

// Encodings (store format: format.h). Decode* return DataLoss on malformed input.
std::string EncodeNode(const Node& node);
// The record EncodeNode(node) / EncodeHistoryEntry(entry) would return, up to
// (not including) the data, which always comes last: a writer can hand the
// head and the data to the storage engine as parts, without joining them.
void AppendNodeHead(const Node& node, std::string* out);
void AppendHistoryEntryHead(const HistoryEntry& entry, std::string* out);
absl::Status DecodeNode(std::string_view in, Node* node);
std::string EncodeHistoryEntry(const HistoryEntry& entry);
absl::Status DecodeHistoryEntry(std::string_view in, HistoryEntry* entry);
std::string EncodeSession(const Session& session);
absl::Status DecodeSession(std::string_view in, Session* session);

// The term a live node contributes to the tree digest: a strong 64-bit hash
// of (path, stat, kind, ttl, acl, data). The digest is the sum (mod 2^64) of the
// terms of all live nodes, so it is independent of order and updated by
// subtracting the old term and adding the new one.
uint64_t NodeDigestTerm(std::string_view path, const Node& node);

}  // namespace synod::storage
