#include "storage/overlay.h"

#include <algorithm>
#include <utility>

#include "base/status_macros.h"
#include "storage/quota.h"

namespace synod::storage {
namespace {

bool InExpiryIndex(const std::optional<Node>& node) {
  return node.has_value() && (node->kind == NodeKind::kTtl || node->kind == NodeKind::kContainer);
}

uint64_t EphemeralOwner(const std::optional<Node>& node) {
  return node.has_value() && node->kind == NodeKind::kEphemeral ? node->stat.ephemeral_owner : 0;
}

}  // namespace

Overlay::Overlay(StateReader* base) : base_(base), meta_(base->meta()) {}

absl::StatusOr<std::optional<Node>> Overlay::GetNode(std::string_view path) {
  absl::StatusOr<const std::optional<Node>*> found = Find(path);
  if (!found.ok()) return found.status();
  return **found;
}

absl::StatusOr<const std::optional<Node>*> Overlay::Find(std::string_view path) {
  if (auto it = changes_.nodes.find(path); it != changes_.nodes.end()) return &it->second;
  if (auto it = read_cache_.find(path); it != read_cache_.end()) return &it->second;
  absl::StatusOr<std::optional<Node>> node = base_->GetNode(path);
  if (!node.ok()) return node.status();
  return &read_cache_.emplace(std::string(path), std::move(*node)).first->second;
}

absl::Status Overlay::Prefetch(std::vector<std::string> paths) {
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  std::erase_if(paths, [this](const std::string& p) {
    return changes_.nodes.contains(p) || read_cache_.contains(p);
  });
  if (paths.empty()) return absl::OkStatus();
  std::vector<std::optional<Node>> nodes;
  SYNOD_RETURN_IF_ERROR(base_->GetNodes(paths, &nodes));
  for (size_t i = 0; i < paths.size(); ++i) {
    read_cache_.emplace(std::move(paths[i]), std::move(nodes[i]));
  }
  return absl::OkStatus();
}

void Overlay::Seed(std::string_view path, const std::optional<Node>& node) {
  if (changes_.nodes.contains(path) || read_cache_.contains(path)) return;
  read_cache_.emplace(std::string(path), node);
}

absl::StatusOr<std::optional<Session>> Overlay::GetSession(uint64_t id) {
  if (auto it = changes_.sessions.find(id); it != changes_.sessions.end()) return it->second;
  return base_->GetSession(id);
}

absl::Status Overlay::ListEphemerals(uint64_t session_id, std::vector<std::string>* out) {
  std::vector<std::string> base;
  if (absl::Status s = base_->ListEphemerals(session_id, &base); !s.ok()) return s;
  // Merge the base list with the adds and removes made here, in byte order.
  auto first = changes_.ephemerals.lower_bound({session_id, std::string()});
  std::vector<std::string> merged;
  size_t i = 0;
  for (auto it = first; it != changes_.ephemerals.end() && it->first.first == session_id; ++it) {
    const std::string& path = it->first.second;
    while (i < base.size() && base[i] < path) merged.push_back(std::move(base[i++]));
    if (i < base.size() && base[i] == path) ++i;
    if (it->second) merged.push_back(path);
  }
  while (i < base.size()) merged.push_back(std::move(base[i++]));
  out->insert(out->end(), std::make_move_iterator(merged.begin()),
              std::make_move_iterator(merged.end()));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Overlay::LastHistorySeq(std::string_view path) {
  if (auto it = last_seq_.find(path); it != last_seq_.end()) return it->second;
  return base_->LastHistorySeq(path);
}

absl::Status Overlay::ListGraves(uint64_t max_revision, size_t limit, std::vector<Grave>* out) {
  // The base's graves (enough of them to fill `limit` after removals) merged
  // with the ones added and removed here, in (revision, path) order.
  size_t removed = 0;
  for (const auto& [key, seq] : changes_.graves) {
    if (!seq.has_value()) ++removed;
  }
  std::vector<Grave> base;
  SYNOD_RETURN_IF_ERROR(base_->ListGraves(max_revision, limit == 0 ? 0 : limit + removed, &base));
  std::map<std::pair<uint64_t, std::string>, uint64_t> merged;
  for (Grave& g : base) merged.emplace(std::make_pair(g.revision, std::move(g.path)), g.seq);
  for (const auto& [key, seq] : changes_.graves) {
    if (key.first > max_revision) continue;
    if (seq.has_value()) {
      merged.insert_or_assign(key, *seq);
    } else {
      merged.erase(key);
    }
  }
  for (auto& [key, seq] : merged) {
    if (limit != 0 && out->size() >= limit) break;
    out->push_back(Grave{key.first, key.second, seq});
  }
  return absl::OkStatus();
}

absl::Status Overlay::PutNode(std::string_view path, Node node) {
  absl::StatusOr<const std::optional<Node>*> found = Find(path);
  if (!found.ok()) return found.status();
  std::optional<Node> fresh(std::move(node));
  // Before the assignment below, which may overwrite the old value in place.
  SYNOD_RETURN_IF_ERROR(Track(path, **found, fresh));
  changes_.nodes.insert_or_assign(std::string(path), std::move(fresh));
  return absl::OkStatus();
}

absl::Status Overlay::DeleteNode(std::string_view path) {
  absl::StatusOr<const std::optional<Node>*> found = Find(path);
  if (!found.ok()) return found.status();
  if (!(*found)->has_value()) return absl::OkStatus();
  SYNOD_RETURN_IF_ERROR(Track(path, **found, std::nullopt));
  changes_.nodes.insert_or_assign(std::string(path), std::nullopt);
  return absl::OkStatus();
}

absl::Status Overlay::Track(std::string_view path, const std::optional<Node>& old,
                            const std::optional<Node>& fresh) {
  if (old.has_value()) meta_.digest -= NodeDigestTerm(path, *old);
  if (fresh.has_value()) meta_.digest += NodeDigestTerm(path, *fresh);
  const uint64_t old_owner = EphemeralOwner(old);
  const uint64_t new_owner = EphemeralOwner(fresh);
  if (old_owner != new_owner) {
    if (old_owner != 0) {
      changes_.ephemerals[{old_owner, std::string(path)}] = false;
      SYNOD_RETURN_IF_ERROR(CountEphemeral(old_owner, -1));
    }
    if (new_owner != 0) {
      changes_.ephemerals[{new_owner, std::string(path)}] = true;
      SYNOD_RETURN_IF_ERROR(CountEphemeral(new_owner, +1));
    }
  }
  if (InExpiryIndex(old) != InExpiryIndex(fresh)) {
    changes_.expiry[std::string(path)] = InExpiryIndex(fresh);
  }
  const int64_t nodes = (fresh.has_value() ? 1 : 0) - (old.has_value() ? 1 : 0);
  const int64_t bytes = static_cast<int64_t>(fresh.has_value() ? fresh->data.size() : 0) -
                        static_cast<int64_t>(old.has_value() ? old->data.size() : 0);
  if ((nodes != 0 || bytes != 0) && meta_.quotas != nullptr && UnderQuota(*meta_.quotas, path)) {
    if (own_quotas_ == nullptr) {
      own_quotas_ = std::make_shared<v1::QuotaState>(*meta_.quotas);
      meta_.quotas = own_quotas_;
    }
    AddUsage(own_quotas_.get(), path, nodes, bytes);
    changes_.quotas = meta_.quotas;
  }
  return absl::OkStatus();
}

absl::Status Overlay::CountEphemeral(uint64_t id, int delta) {
  absl::StatusOr<std::optional<Session>> session = GetSession(id);
  if (!session.ok()) return session.status();
  if (!session->has_value()) return absl::OkStatus();
  Session& s = **session;
  if (delta < 0 && s.ephemerals == 0) return absl::DataLossError("session ephemeral count below 0");
  s.ephemerals = delta < 0 ? s.ephemerals - 1 : s.ephemerals + 1;
  PutSession(std::move(s));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Node>> Overlay::Peek(std::string_view path) {
  if (auto it = changes_.nodes.find(path); it != changes_.nodes.end()) return it->second;
  if (auto it = read_cache_.find(path); it != read_cache_.end()) return it->second;
  return base_->GetNode(path);
}

absl::Status Overlay::ListChildNames(std::string_view parent, std::vector<std::string>* out) {
  std::vector<std::string> base;
  SYNOD_RETURN_IF_ERROR(base_->ListChildNames(parent, &base));
  // The children written here: keys under parent + "/" with no further '/'.
  const std::string prefix = parent == "/" ? "/" : std::string(parent) + "/";
  std::map<std::string, bool, std::less<>> written;  // name -> exists
  for (auto it = changes_.nodes.lower_bound(prefix);
       it != changes_.nodes.end() && std::string_view(it->first).starts_with(prefix); ++it) {
    const std::string_view name = std::string_view(it->first).substr(prefix.size());
    if (name.empty() || name.find('/') != std::string_view::npos) continue;
    written.emplace(std::string(name), it->second.has_value());
  }
  std::vector<std::string> merged;
  merged.reserve(base.size() + written.size());
  auto w = written.begin();
  for (std::string& name : base) {
    for (; w != written.end() && w->first < name; ++w) {
      if (w->second) merged.push_back(w->first);
    }
    if (w != written.end() && w->first == name) {
      if (w->second) merged.push_back(std::move(name));
      ++w;
      continue;
    }
    merged.push_back(std::move(name));
  }
  for (; w != written.end(); ++w) {
    if (w->second) merged.push_back(w->first);
  }
  out->insert(out->end(), std::make_move_iterator(merged.begin()),
              std::make_move_iterator(merged.end()));
  return absl::OkStatus();
}

absl::Status Overlay::SubtreeUsage(std::string_view path, int64_t* nodes, int64_t* bytes) {
  *nodes = 0;
  *bytes = 0;
  std::vector<std::string> pending{std::string(path)};
  std::vector<std::string> children;
  while (!pending.empty()) {
    const std::string at = std::move(pending.back());
    pending.pop_back();
    SYNOD_ASSIGN_OR_RETURN(std::optional<Node> node, Peek(at));
    if (!node.has_value()) continue;
    *nodes += 1;
    *bytes += static_cast<int64_t>(node->data.size());
    if (node->stat.num_children == 0) continue;
    children.clear();
    SYNOD_RETURN_IF_ERROR(ListChildNames(at, &children));
    for (const std::string& name : children) {
      pending.push_back(at == "/" ? "/" + name : at + "/" + name);
    }
  }
  return absl::OkStatus();
}

void Overlay::PutHistory(std::string_view path, uint64_t seq, HistoryEntry entry) {
  auto& last = last_seq_[std::string(path)];
  last = std::max(last, seq);
  changes_.history.insert_or_assign({std::string(path), seq}, std::move(entry));
}

void Overlay::DeleteHistory(std::string_view path, uint64_t seq) {
  changes_.history.insert_or_assign({std::string(path), seq}, std::nullopt);
}

void Overlay::AddGrave(const Grave& grave) {
  changes_.graves.insert_or_assign({grave.revision, grave.path}, grave.seq);
}

void Overlay::RemoveGrave(uint64_t revision, std::string_view path) {
  changes_.graves.insert_or_assign({revision, std::string(path)}, std::nullopt);
}

void Overlay::DropHistory(std::string_view path, uint64_t newest_seq, uint64_t count) {
  for (uint64_t seq = newest_seq; seq > 0 && newest_seq - seq < count; --seq) {
    DeleteHistory(path, seq);
  }
  last_seq_.insert_or_assign(std::string(path), 0);
}

void Overlay::PutSession(Session session) {
  uint64_t id = session.id;
  changes_.sessions.insert_or_assign(id, std::move(session));
}

void Overlay::DeleteSession(uint64_t id) { changes_.sessions.insert_or_assign(id, std::nullopt); }

void Overlay::AddEvent(v1::WatchEvent event) { changes_.events.push_back(std::move(event)); }

void Overlay::SetCompactRevision(uint64_t revision) {
  changes_.compact_revision = revision;
  meta_.compact_revision = revision;
}

void Overlay::SetSettings(const ClusterSettings& settings) {
  changes_.settings = settings;
  meta_.settings = settings;
}

void Overlay::SetAuth(std::shared_ptr<const v1::AuthState> auth) {
  changes_.auth = auth;
  meta_.auth = std::move(auth);
}

void Overlay::SetQuotas(std::shared_ptr<const v1::QuotaState> quotas) {
  own_quotas_.reset();
  changes_.quotas = quotas;
  meta_.quotas = std::move(quotas);
}

void Overlay::MergeInto(Overlay* parent) {
  WriteSet& to = parent->changes_;
  for (auto& [path, node] : changes_.nodes) {
    parent->read_cache_.erase(path);
    to.nodes.insert_or_assign(path, std::move(node));
  }
  for (auto& [key, entry] : changes_.history) to.history.insert_or_assign(key, std::move(entry));
  for (auto& [id, session] : changes_.sessions) {
    to.sessions.insert_or_assign(id, std::move(session));
  }
  for (auto& [key, seq] : changes_.graves) to.graves.insert_or_assign(key, seq);
  for (auto& [key, add] : changes_.ephemerals) to.ephemerals.insert_or_assign(key, add);
  for (auto& [key, add] : changes_.expiry) to.expiry.insert_or_assign(key, add);
  for (auto& event : changes_.events) to.events.push_back(std::move(event));
  if (changes_.compact_revision.has_value()) parent->SetCompactRevision(*changes_.compact_revision);
  if (changes_.settings.has_value()) parent->SetSettings(*changes_.settings);
  if (changes_.auth.has_value()) parent->SetAuth(*changes_.auth);
  if (changes_.quotas.has_value()) {
    parent->SetQuotas(*changes_.quotas);
    // This overlay is done with its copy: the parent may go on changing it.
    if (own_quotas_ != nullptr && own_quotas_ == *changes_.quotas) {
      parent->own_quotas_ = std::move(own_quotas_);
    }
  }
  // Newer than the parent's view of the same path: it replaces it.
  for (auto& [path, seq] : last_seq_) parent->last_seq_.insert_or_assign(path, seq);
  parent->meta_.digest = meta_.digest;
  changes_ = WriteSet();
  last_seq_.clear();
  read_cache_.clear();
  own_quotas_.reset();
}

WriteSet Overlay::TakeWriteSet(uint64_t applied_index) {
  WriteSet out = std::move(changes_);
  out.applied_index = applied_index;
  out.digest = meta_.digest;
  changes_ = WriteSet();
  last_seq_.clear();
  read_cache_.clear();
  // The WriteSet holds the quotas now: never change them in place again.
  own_quotas_.reset();
  return out;
}

}  // namespace synod::storage
