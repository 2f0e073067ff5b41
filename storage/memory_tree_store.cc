#include "storage/memory_tree_store.h"

#include <utility>

#include "storage/path.h"

namespace synod::storage {

class MemoryTreeStore::View : public StateView {
 public:
  explicit View(MemoryTreeStore* store) ABSL_NO_THREAD_SAFETY_ANALYSIS : store_(store) {
    store_->mu_.ReaderLock();
    meta_ = store_->meta_;
  }
  ~View() override ABSL_NO_THREAD_SAFETY_ANALYSIS { store_->mu_.ReaderUnlock(); }

  const StoreMeta& meta() const override { return meta_; }

  absl::StatusOr<std::optional<Node>> GetNode(std::string_view path) override
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto it = store_->nodes_.find(path);
    if (it == store_->nodes_.end()) return std::nullopt;
    return it->second;
  }

  absl::StatusOr<std::optional<Session>> GetSession(uint64_t id) override
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto it = store_->sessions_.find(id);
    if (it == store_->sessions_.end()) return std::nullopt;
    return it->second;
  }

  absl::Status ListEphemerals(uint64_t session_id, std::vector<std::string>* out) override
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (auto it = store_->ephemerals_.lower_bound({session_id, std::string()});
         it != store_->ephemerals_.end() && it->first == session_id; ++it) {
      out->push_back(it->second);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> LastHistorySeq(std::string_view path) override
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto it = store_->history_.find(path);
    if (it == store_->history_.end() || it->second.empty()) return 0;
    return it->second.rbegin()->first;
  }

  absl::Status ListGraves(uint64_t max_revision, size_t limit,
                          std::vector<Grave>* out) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (const auto& [key, seq] : store_->graves_) {
      if (key.first > max_revision || (limit != 0 && out->size() >= limit)) break;
      out->push_back(Grave{key.first, key.second, seq});
    }
    return absl::OkStatus();
  }

  absl::Status ListChildren(std::string_view parent, std::string_view start_after, size_t limit,
                            std::vector<ChildEntry>* out) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto set = store_->children_.find(parent);
    if (set == store_->children_.end()) return absl::OkStatus();
    for (auto it = set->second.upper_bound(start_after);
         it != set->second.end() && (limit == 0 || out->size() < limit); ++it) {
      auto node = store_->nodes_.find(ChildPath(parent, *it));
      if (node == store_->nodes_.end()) return absl::InternalError("child index out of step");
      out->push_back(ChildEntry{*it, node->second});
    }
    return absl::OkStatus();
  }

  absl::Status ScanHistory(std::string_view path,
                           const std::function<bool(uint64_t, const HistoryEntry&)>& fn) override
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto it = store_->history_.find(path);
    if (it == store_->history_.end()) return absl::OkStatus();
    for (auto v = it->second.rbegin(); v != it->second.rend(); ++v) {
      if (!fn(v->first, v->second)) break;
    }
    return absl::OkStatus();
  }

  absl::Status ListEvents(uint64_t after_revision, size_t limit, std::vector<v1::WatchEvent>* out)
      override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    size_t taken = 0;
    for (auto it = store_->events_.lower_bound({after_revision + 1, 0});
         it != store_->events_.end(); ++it) {
      if (limit != 0 && taken >= limit && it->first.first != out->back().revision()) break;
      out->push_back(it->second);
      ++taken;
    }
    return absl::OkStatus();
  }

  absl::Status ListSessions(std::vector<Session>* out) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (const auto& [id, session] : store_->sessions_) out->push_back(session);
    return absl::OkStatus();
  }

  absl::Status ListExpiryCandidates(std::vector<std::string>* out) override
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    out->insert(out->end(), store_->expiry_.begin(), store_->expiry_.end());
    return absl::OkStatus();
  }

  absl::Status ForEachNode(const std::function<absl::Status(std::string_view, const Node&)>& fn)
      override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (const auto& [path, node] : store_->nodes_) {
      if (absl::Status s = fn(path, node); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status ForEachHistory(
      const std::function<absl::Status(std::string_view, uint64_t, const HistoryEntry&)>& fn)
      override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (const auto& [path, versions] : store_->history_) {
      for (const auto& [seq, entry] : versions) {
        if (absl::Status s = fn(path, seq, entry); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

 private:
  MemoryTreeStore* store_;
  StoreMeta meta_;
};

MemoryTreeStore::MemoryTreeStore() {
  absl::MutexLock lock(&mu_);
  ClearState();
  nodes_.emplace("/", InitialRoot());
  history_["/"].emplace(1, InitialRootHistory());
  meta_.digest = NodeDigestTerm("/", InitialRoot());
}

absl::StatusOr<std::unique_ptr<StateView>> MemoryTreeStore::NewView() {
  return std::make_unique<View>(this);
}

StoreMeta MemoryTreeStore::meta() {
  absl::ReaderMutexLock lock(&mu_);
  return meta_;
}

absl::Status MemoryTreeStore::Commit(const WriteSet& ws) {
  absl::MutexLock lock(&mu_);
  if (restore_pending_) return absl::FailedPreconditionError("a snapshot restore must complete");
  if (ws.applied_index <= meta_.applied_index) return absl::OkStatus();
  ApplyChanges(ws);
  meta_.applied_index = ws.applied_index;
  meta_.digest = ws.digest;
  if (ws.compact_revision.has_value()) meta_.compact_revision = *ws.compact_revision;
  if (ws.settings.has_value()) meta_.settings = ws.settings;
  if (ws.auth.has_value()) meta_.auth = *ws.auth;
  if (ws.quotas.has_value()) meta_.quotas = *ws.quotas;
  return absl::OkStatus();
}

void MemoryTreeStore::ApplyChanges(const WriteSet& ws) {
  // The indexes follow from the node changes alone (ws.ephemerals and
  // ws.expiry are deliberately not read here; see the class comment).
  for (const auto& [path, node] : ws.nodes) {
    auto old = nodes_.find(path);
    if (old != nodes_.end()) {
      const Node& o = old->second;
      if (o.kind == NodeKind::kEphemeral) ephemerals_.erase({o.stat.ephemeral_owner, path});
      if (o.kind == NodeKind::kTtl || o.kind == NodeKind::kContainer) expiry_.erase(path);
    }
    if (path != "/") {
      std::string parent(ParentPath(path));
      std::string name(BaseName(path));
      if (node.has_value()) {
        children_[parent].insert(std::move(name));
      } else if (auto set = children_.find(parent); set != children_.end()) {
        set->second.erase(name);
        if (set->second.empty()) children_.erase(set);
      }
    }
    if (!node.has_value()) {
      if (old != nodes_.end()) nodes_.erase(old);
      continue;
    }
    if (node->kind == NodeKind::kEphemeral) ephemerals_.insert({node->stat.ephemeral_owner, path});
    if (node->kind == NodeKind::kTtl || node->kind == NodeKind::kContainer) expiry_.insert(path);
    nodes_.insert_or_assign(path, *node);
  }
  for (const auto& [key, entry] : ws.history) {
    if (entry.has_value()) {
      history_[key.first].insert_or_assign(key.second, *entry);
    } else if (auto it = history_.find(key.first); it != history_.end()) {
      it->second.erase(key.second);
      if (it->second.empty()) history_.erase(it);
    }
  }
  for (const auto& [id, session] : ws.sessions) {
    if (session.has_value()) {
      sessions_.insert_or_assign(id, *session);
    } else {
      sessions_.erase(id);
    }
  }
  for (const auto& [key, seq] : ws.graves) {
    if (seq.has_value()) {
      graves_.insert_or_assign(key, *seq);
    } else {
      graves_.erase(key);
    }
  }
  uint64_t revision = 0;
  uint32_t index = 0;
  for (const v1::WatchEvent& event : ws.events) {
    index = event.revision() == revision ? index + 1 : 0;
    revision = event.revision();
    events_.insert_or_assign({revision, index}, event);
  }
  if (ws.compact_revision.has_value()) {
    events_.erase(events_.begin(), events_.lower_bound({*ws.compact_revision + 1, 0}));
  }
}

void MemoryTreeStore::ClearState() {
  meta_ = StoreMeta();
  nodes_.clear();
  children_.clear();
  history_.clear();
  events_.clear();
  sessions_.clear();
  graves_.clear();
  ephemerals_.clear();
  expiry_.clear();
}

absl::Status MemoryTreeStore::BeginRestore(const StoreMeta& /*target*/) {
  absl::MutexLock lock(&mu_);
  ClearState();
  restore_pending_ = true;
  return absl::OkStatus();
}

absl::Status MemoryTreeStore::RestoreChunk(const WriteSet& ws) {
  absl::MutexLock lock(&mu_);
  ApplyChanges(ws);
  return absl::OkStatus();
}

absl::Status MemoryTreeStore::FinishRestore(const StoreMeta& meta) {
  absl::MutexLock lock(&mu_);
  meta_ = meta;
  restore_pending_ = false;
  return absl::OkStatus();
}

}  // namespace synod::storage
