// Applier (apply.h): runs batches of committed entries through
// ApplyCommand over one Overlay and commits each batch as one WriteSet,
// with the node cache that spares the store lookups of hot nodes.
#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/apply.h"
#include "storage/path.h"

namespace synod::storage {

namespace {
// What the node cache may hold: a few thousand hot nodes of a few hundred
// bytes. It is emptied whenever it grows past this (a bulk load, a scan of
// sets over a large tree), so it costs little memory when it cannot help.
constexpr size_t kNodeCacheBytes = 1u << 20;
size_t CachedBytes(const std::string& path, const std::optional<Node>& node) {
  return path.size() + sizeof(std::optional<Node>) + 32 +
         (node.has_value() ? node->data.size() : 0);
}
}  // namespace

void Applier::DropNodeCache() {
  node_cache_.clear();
  node_cache_bytes_ = 0;
}

void Applier::CacheWrites(const WriteSet& ws) {
  for (const auto& [path, node] : ws.nodes) {
    auto [it, inserted] = node_cache_.try_emplace(path, node);
    if (!inserted) {
      node_cache_bytes_ -= CachedBytes(path, it->second);
      it->second = node;
    }
    node_cache_bytes_ += CachedBytes(path, node);
  }
  node_cache_index_ = ws.applied_index;
  if (node_cache_bytes_ > kNodeCacheBytes) DropNodeCache();
}

Applier::Applier(TreeStore* store, const ApplyLimits& limits) : store_(store), limits_(limits) {
  StoreMeta meta = store_->meta();
  RememberDigest(meta.applied_index, meta.digest);
}

void Applier::RememberDigest(uint64_t revision, uint64_t digest) {
  // Enough for a DigestCheck proposed a while before it commits.
  constexpr size_t kRemembered = 1 << 16;
  if (!recent_digests_.empty() && recent_digests_.back().first >= revision) {
    recent_digests_.clear();  // a restore moved the state: old values are void
  }
  recent_digests_.emplace_back(revision, digest);
  if (recent_digests_.size() > kRemembered) recent_digests_.pop_front();
}

std::optional<uint64_t> Applier::DigestAt(uint64_t revision) const {
  auto it = std::lower_bound(
      recent_digests_.begin(), recent_digests_.end(), revision,
      [](const std::pair<uint64_t, uint64_t>& e, uint64_t rev) { return e.first < rev; });
  if (it == recent_digests_.end() || it->first != revision) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<EntryOutcome>> Applier::ApplyBatch(
    absl::Span<const ApplyEntry> entries) {
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].index <= entries[i - 1].index) {
      return absl::InvalidArgumentError("entry indexes must increase");
    }
  }
  // A settings change may change the history bound, which the store's ring
  // must follow before the next command writes history: commit through it,
  // then go on in another batch.
  for (size_t i = 0; i + 1 < entries.size(); ++i) {
    if (entries[i].command == nullptr || !entries[i].command->has_set_settings()) continue;
    absl::StatusOr<std::vector<EntryOutcome>> head = ApplyOneBatch(entries.subspan(0, i + 1));
    if (!head.ok()) return head.status();
    absl::StatusOr<std::vector<EntryOutcome>> tail = ApplyBatch(entries.subspan(i + 1));
    if (!tail.ok()) return tail.status();
    head->insert(head->end(), std::make_move_iterator(tail->begin()),
                 std::make_move_iterator(tail->end()));
    return head;
  }
  return ApplyOneBatch(entries);
}

absl::StatusOr<std::vector<EntryOutcome>> Applier::ApplyOneBatch(
    absl::Span<const ApplyEntry> entries) {
  std::vector<EntryOutcome> outcomes(entries.size());
  if (entries.empty()) return outcomes;
  // The store drops each version that falls out of the bound by writing the
  // new one over it: it must be built for this very bound. Recorded
  // settings decide it (the ring follows them); without any, the limits the
  // Applier was given must match the store.
  const StoreMeta start = store_->meta();
  const uint32_t bound = std::max<uint32_t>(EffectiveLimits(limits_, start).history_per_node, 1);
  if (const uint32_t ring = store_->history_ring(); ring != 0 && ring != bound) {
    if (!start.settings.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store keeps ", ring, " versions per node, the applier ", limits_.history_per_node));
    }
    if (absl::Status s = store_->ResizeHistoryRing(bound); !s.ok()) return s;
  }
  absl::StatusOr<std::unique_ptr<StateView>> view = store_->NewView();
  if (!view.ok()) return view.status();
  const uint64_t applied = (*view)->meta().applied_index;
  if (entries.back().index <= applied) {
    for (size_t i = 0; i < entries.size(); ++i) {
      outcomes[i].index = entries[i].index;
      outcomes[i].skipped = true;
    }
    return outcomes;
  }
  if (recent_digests_.empty() || recent_digests_.back().first != applied) {
    RememberDigest(applied, (*view)->meta().digest);
  }
  auto digest_at = [this](uint64_t rev) { return DigestAt(rev); };
  Overlay batch(view->get());
  // The nodes the batch's ops name (and their parents, for creates and
  // deletes), read in one batched lookup instead of one by one.
  std::vector<std::string> wanted;
  for (const ApplyEntry& entry : entries) {
    if (entry.command == nullptr || entry.index <= applied || !entry.command->has_txn()) continue;
    for (const v1::Op& op : entry.command->txn().ops()) {
      const std::string* path = nullptr;
      bool parent = false;
      switch (op.op_case()) {
        case v1::Op::kCreate:
          path = &op.create().path();
          parent = true;
          break;
        case v1::Op::kSet:
          path = &op.set().path();
          break;
        case v1::Op::kDelete:
          path = &op.delete_().path();
          parent = true;
          break;
        default:
          break;
      }
      if (path == nullptr || !IsValidPath(*path) || *path == "/") continue;
      wanted.push_back(*path);
      if (parent) wanted.emplace_back(ParentPath(*path));
    }
  }
  if (node_cache_index_ != applied) DropNodeCache();
  if (!node_cache_.empty()) {
    std::erase_if(wanted, [&](const std::string& path) {
      auto it = node_cache_.find(path);
      if (it == node_cache_.end()) return false;
      batch.Seed(path, it->second);
      return true;
    });
  }
  if (absl::Status s = batch.Prefetch(std::move(wanted)); !s.ok()) return s;
  // Each outcome's events are [event_begin[i], event_begin[i + 1]) of the
  // batch's; they are moved out once the batch is committed.
  std::vector<size_t> event_begin(entries.size() + 1, 0);
  for (size_t i = 0; i < entries.size(); ++i) {
    EntryOutcome& out = outcomes[i];
    out.index = entries[i].index;
    event_begin[i] = batch.events().size();
    if (entries[i].index <= applied) {
      out.skipped = true;
      continue;
    }
    if (entries[i].command != nullptr) {
      absl::Status s =
          ApplyCommand(limits_, out.index, *entries[i].command, &batch, digest_at, &out.result);
      if (!s.ok()) return s;
    }
    RememberDigest(out.index, batch.meta().digest);
  }
  event_begin[entries.size()] = batch.events().size();
  WriteSet ws = batch.TakeWriteSet(entries.back().index);
  view->reset();
  if (absl::Status s = store_->Commit(ws); !s.ok()) {
    DropNodeCache();
    return s;
  }
  CacheWrites(ws);
  for (size_t i = 0; i < entries.size(); ++i) {
    outcomes[i].events.assign(std::make_move_iterator(ws.events.begin() + event_begin[i]),
                              std::make_move_iterator(ws.events.begin() + event_begin[i + 1]));
  }
  return outcomes;
}

}  // namespace synod::storage
