// On-disk format of the replicated state (TreeStore), of its snapshots, and
// the version of the Raft log's files.
//
// Versions: until the first tagged release a format changes freely with a
// version bump and a store or log of another version is refused, not
// migrated (docs/operations.md, "Compatibility"). A store whose recorded
// format version is not this binary's refuses to open (FailedPrecondition,
// naming both versions); a snapshot whose version is unknown is refused
// before any state is touched.
//   Store format 8: the RocksDB instance holds the state column families
//     alone (nodes, history, sessions, meta; rocks_env.h), in the key
//     layout below; node/history/session values as encoded by
//     storage/node.h (each value starts with its own tag byte; nodes and
//     history entries carry their ACL, nodes a null-data bit in their kind
//     byte, sessions their owner and ephemeral count), history
//     values prefixed by their seq; the meta "state" value carries the
//     cluster settings (storage/cluster_settings.h) after its three
//     integers once the log recorded them; the meta "auth" value the
//     serialized v1::AuthState once an auth command set one; the meta
//     "quotas" value the serialized v1::QuotaState once a quota was set.
//   Log format 2 (the Raft log's segment files): batches framed by a
//     checksummed header and an end mark, so that recovery tells a torn
//     final write from damage; see storage/log_segments.h. Format 1 (bare
//     records) is not read: no release wrote it.
//   Snapshot format 7 (storage/snapshot_format.h): records zstd-compressed
//     in blocks after a plain header that carries the cluster settings, the
//     auth state and the quotas; node and history records with their ACLs.
//     The only version read: a file of another version is refused.
//
// Key layout (all integers big-endian so that byte order is numeric order):
//   kNodes     root: "/"; any other node: parent path + '\0' + name. '\0'
//              sorts below every legal path byte, so the children of one
//              parent are contiguous and ordered by name, and one iterator
//              seeked to parent + '\0' + start lists a page of them.
//   kHistory   'h' + path + '\0' + be64(seq mod ring): the versions of one
//              path, contiguous, in a ring of `ring` slots (the per-node
//              bound, kept in meta "history_ring"); value be64(seq) + the
//              entry. seq counts per path, across deletes and re-creates,
//              from 1. A set puts the new version into the slot of the one
//              that falls out of the bound: one memtable entry per version
//              (a key per seq would need a delete as well), and the bound
//              holds by construction.
//              'e' + be64(R): the watch events of one committed batch (or
//              restore chunk) whose last event has revision R, as a list of
//              u32 length + serialized WatchEvent, so events after R are one
//              forward scan from the key of R + 1 (one key per batch keeps
//              the write path cheap). Events at or below the compaction
//              revision are never returned, even where a batch that
//              straddles it is still stored.
//              'd' + be64(revision) + path: a Grave (node.h), value
//              be64(tombstone seq).
//   kSessions  's' + be64(id): a session; 'p' + be64(id) + path: an
//              ephemeral node of that session (index for close/expire).
//   kMeta      "format": be32 store format version; "history_ring": be32
//              history slots per path; "state": applied index,
//              digest, compaction revision [, cluster settings]; "auth": the
//              serialized v1::AuthState (absent until an auth command);
//              "quotas": the serialized v1::QuotaState (absent until a
//              quota is set); "restoring": present while a
//              snapshot restore is under way; 'x' + path: a TTL or container
//              node (index the leader scans for expired nodes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace synod::storage {

// Index of the snapshot every founding member starts from (its state is the
// empty tree, and it has no file).
inline constexpr uint64_t kBootstrapIndex = 1;

inline constexpr uint32_t kStoreFormatVersion = 8;     // the only one this binary reads
inline constexpr uint32_t kLogFormatVersion = 2;       // the only one this binary reads
inline constexpr uint32_t kSnapshotFormatVersion = 7;  // the only one this binary reads

namespace keys {

inline constexpr char kChildSeparator = '\0';

inline constexpr std::string_view kMetaFormat = "format";
inline constexpr std::string_view kMetaState = "state";
inline constexpr std::string_view kMetaRestoring = "restoring";
inline constexpr std::string_view kMetaHistoryRing = "history_ring";
inline constexpr std::string_view kMetaAuth = "auth";
inline constexpr std::string_view kMetaQuotas = "quotas";

inline constexpr char kHistoryTag = 'h';
inline constexpr char kEventTag = 'e';
inline constexpr char kGraveTag = 'd';
inline constexpr char kSessionTag = 's';
inline constexpr char kEphemeralTag = 'p';
inline constexpr char kExpiryTag = 'x';

void AppendBigEndian64(std::string* out, uint64_t v);
void AppendBigEndian32(std::string* out, uint32_t v);
uint64_t ReadBigEndian64(std::string_view in);  // requires in.size() >= 8
uint32_t ReadBigEndian32(std::string_view in);  // requires in.size() >= 4

// kNodes. `path` must be valid (storage/path.h).
std::string NodeKey(std::string_view path);
std::string ChildrenPrefix(std::string_view parent);
// Inverse of NodeKey; false if `key` is not a node key.
bool PathFromNodeKey(std::string_view key, std::string* path);

// kHistory.
std::string HistoryPrefix(std::string_view path);
// `slot`: seq mod ring.
std::string HistoryKey(std::string_view path, uint64_t slot);
std::string EventKey(uint64_t last_revision);
std::string GraveKey(uint64_t revision, std::string_view path);

// kSessions.
std::string SessionKey(uint64_t session_id);
std::string EphemeralPrefix(uint64_t session_id);
std::string EphemeralKey(uint64_t session_id, std::string_view path);

// kMeta.
std::string ExpiryKey(std::string_view path);

}  // namespace keys
}  // namespace synod::storage
