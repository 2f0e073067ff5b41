// Overlay: pending changes on top of a StateReader, readable as the state
// they would make. Apply writes into an Overlay over a StateView for a whole
// batch, and a multi into a nested Overlay merged only if every op succeeds,
// which is what makes a multi all-or-nothing and lets each op see the ones
// before it.
//
// The overlay keeps the digest, the secondary indexes (ephemerals by
// session, TTL/container paths), each session's ephemeral count and the
// usage of the subtree quotas in step with node changes, so apply code only
// puts and deletes nodes.
//
// Thread: the apply thread; the base must outlive the overlay and not
// change underneath it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/tree_store.h"
#include "storage/write_set.h"

namespace synod::storage {

class Overlay : public StateReader {
 public:
  explicit Overlay(StateReader* base);
  Overlay(const Overlay&) = delete;
  Overlay& operator=(const Overlay&) = delete;

  // The base's meta with this overlay's digest, compaction revision,
  // settings, auth state and quotas.
  const StoreMeta& meta() const override { return meta_; }
  absl::StatusOr<std::optional<Node>> GetNode(std::string_view path) override;
  absl::StatusOr<std::optional<Session>> GetSession(uint64_t id) override;
  absl::Status ListEphemerals(uint64_t session_id, std::vector<std::string>* out) override;
  absl::StatusOr<uint64_t> LastHistorySeq(std::string_view path) override;
  absl::Status ListGraves(uint64_t max_revision, size_t limit, std::vector<Grave>* out) override;
  absl::Status ListChildNames(std::string_view parent, std::vector<std::string>* out) override;

  // The nodes at and below `path` and the bytes of their data, as this
  // overlay sees them; 0 and 0 if there is no such node. Reads the whole
  // subtree without keeping it. Errors: as GetNode.
  absl::Status SubtreeUsage(std::string_view path, int64_t* nodes, int64_t* bytes);

  // Reads the given nodes from the base in one batch (those not already
  // read or written here), so the apply of a batch's ops then finds them in
  // memory. Errors: as GetNode.
  absl::Status Prefetch(std::vector<std::string> paths);
  // Takes `node` as the base's value of `path` (the caller knows it), unless
  // the path was read or written here already.
  void Seed(std::string_view path, const std::optional<Node>& node);

  // Node writes; they update the digest, the indexes, the owner session's
  // ephemeral count and quota usage. Errors: as GetNode and GetSession.
  absl::Status PutNode(std::string_view path, Node node);
  absl::Status DeleteNode(std::string_view path);

  void PutHistory(std::string_view path, uint64_t seq, HistoryEntry entry);
  // Deletes one entry that is not the path's newest (the per-node bound).
  void DeleteHistory(std::string_view path, uint64_t seq);
  // Deletes the path's whole history: the `count` entries ending at
  // `newest_seq`. The path then has no history (LastHistorySeq = 0).
  void DropHistory(std::string_view path, uint64_t newest_seq, uint64_t count);
  void AddGrave(const Grave& grave);
  void RemoveGrave(uint64_t revision, std::string_view path);
  void PutSession(Session session);
  void DeleteSession(uint64_t id);
  void AddEvent(v1::WatchEvent event);
  void SetCompactRevision(uint64_t revision);
  void SetSettings(const ClusterSettings& settings);
  // Replaces the auth state (never null once set: a command that changes it
  // hands over the whole new state).
  void SetAuth(std::shared_ptr<const v1::AuthState> auth);
  // Replaces the quotas (null: none).
  void SetQuotas(std::shared_ptr<const v1::QuotaState> quotas);

  const std::vector<v1::WatchEvent>& events() const { return changes_.events; }

  // Folds every change into `parent`, the overlay this one was built on.
  void MergeInto(Overlay* parent);
  // Hands the changes over as a WriteSet stamped with `applied_index` and
  // the digest. Once it is committed the base is stale: drop the overlay.
  WriteSet TakeWriteSet(uint64_t applied_index);

 private:
  // The value GetNode would return, without copying it: a pointer into
  // changes_.nodes or read_cache_ (reading the base on a miss), valid until
  // that entry is next written.
  absl::StatusOr<const std::optional<Node>*> Find(std::string_view path);
  // The value GetNode would return, without keeping a base read.
  absl::StatusOr<std::optional<Node>> Peek(std::string_view path);
  // The bookkeeping of a node change from `old` to `fresh` at `path`
  // (either may be absent) beyond the digest: ephemeral index and counts,
  // expiry index, quota usage.
  absl::Status Track(std::string_view path, const std::optional<Node>& old,
                     const std::optional<Node>& fresh);
  // Adds `delta` to session `id`'s ephemeral count (a session already gone
  // has none to keep).
  absl::Status CountEphemeral(uint64_t id, int delta);

  StateReader* base_;
  StoreMeta meta_;
  WriteSet changes_;
  // Base values already read (never changed here), so a node read twice in
  // a batch is fetched once.
  std::map<std::string, std::optional<Node>, std::less<>> read_cache_;
  // Newest history seq per path written here.
  std::map<std::string, uint64_t, std::less<>> last_seq_;
  // meta_.quotas when this overlay made it (a copy it may change in
  // place); null while meta_.quotas is shared with the base or a WriteSet.
  std::shared_ptr<v1::QuotaState> own_quotas_;
};

}  // namespace synod::storage
