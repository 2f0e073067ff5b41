// The read semantics of TreeStore, written once over StateView.
#include "storage/tree_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/path.h"

namespace synod::storage {
namespace {

struct Version {
  uint64_t seq;
  HistoryEntry entry;
};

absl::Status LoadHistory(StateView* view, std::string_view path, std::vector<Version>* out) {
  return view->ScanHistory(path, [out](uint64_t seq, const HistoryEntry& entry) {
    out->push_back(Version{seq, entry});
    return true;
  });
}

// Version i of a newest-first list is visible at revisions
// [revision_i, revision_{i-1}); once the compaction revision reaches the end
// of that range no read at or above it can see the version.
bool Compacted(const std::vector<Version>& versions, size_t i, uint64_t compact_revision) {
  return i > 0 && versions[i - 1].entry.revision <= compact_revision;
}

}  // namespace

absl::Status StateReader::GetNodes(const std::vector<std::string>& paths,
                                   std::vector<std::optional<Node>>* out) {
  out->clear();
  out->reserve(paths.size());
  for (const std::string& path : paths) {
    absl::StatusOr<std::optional<Node>> node = GetNode(path);
    if (!node.ok()) return node.status();
    out->push_back(std::move(*node));
  }
  return absl::OkStatus();
}

absl::Status StateView::ListChildNames(std::string_view parent, std::vector<std::string>* out) {
  // Pages, so that a wide parent's children are never all held with their
  // data.
  constexpr size_t kPage = 1024;
  std::vector<ChildEntry> page;
  std::string after;
  do {
    page.clear();
    SYNOD_RETURN_IF_ERROR(ListChildren(parent, after, kPage, &page));
    for (ChildEntry& child : page) out->push_back(std::move(child.name));
    if (!page.empty()) after = out->back();
  } while (page.size() == kPage);
  return absl::OkStatus();
}

namespace {

// The start of a read of the node at `path` in `view`: result->revision is
// the view's applied index; no node comes back for an invalid path
// (result->code INVALID_PATH) or a missing one (NO_NODE).
template <typename Result>
absl::StatusOr<std::optional<Node>> ReadNode(StateView* view, std::string_view path,
                                             Result* result) {
  result->revision = view->meta().applied_index;
  if (!IsValidPath(path)) {
    result->code = v1::INVALID_PATH;
    return std::nullopt;
  }
  SYNOD_ASSIGN_OR_RETURN(std::optional<Node> node, view->GetNode(path));
  if (!node.has_value()) result->code = v1::NO_NODE;
  return node;
}

}  // namespace

absl::StatusOr<NodeResult> TreeStore::Get(std::string_view path) {
  SYNOD_ASSIGN_OR_RETURN(std::unique_ptr<StateView> view, NewView());
  NodeResult result;
  SYNOD_ASSIGN_OR_RETURN(std::optional<Node> node, ReadNode(view.get(), path, &result));
  if (!node.has_value()) return result;
  result.stat = node->stat;
  result.acl = std::move(node->acl);
  result.data = std::move(node->data);
  result.data_null = node->data_null;
  return result;
}

absl::StatusOr<NodeResult> TreeStore::GetAtVersion(std::string_view path, int64_t version) {
  absl::StatusOr<std::unique_ptr<StateView>> view = NewView();
  if (!view.ok()) return view.status();
  NodeResult result;
  const StoreMeta& meta = (*view)->meta();
  result.revision = meta.applied_index;
  if (absl::Status s = ValidatePath(path); !s.ok()) {
    result.code = v1::INVALID_PATH;
    result.message = std::string(s.message());
    return result;
  }
  if (version < 0) {
    result.code = v1::INVALID_ARGUMENT;
    result.message = absl::StrCat("version ", version, " is negative (versions count from 0)");
    return result;
  }
  std::vector<Version> versions;
  if (absl::Status s = LoadHistory(view->get(), path, &versions); !s.ok()) return s;
  if (versions.empty()) {
    result.code = v1::NO_NODE;
    return result;
  }
  // The newest entry (a live version, or the tombstone carrying the last
  // stat) bounds the versions of the latest incarnation.
  const HistoryEntry& newest = versions[0].entry;
  // Until the version is found, the answer speaks of the latest incarnation.
  result.acl = newest.acl;
  if (version > newest.stat.version) {
    result.code = v1::INVALID_ARGUMENT;
    result.message =
        absl::StrCat("version ", version, " of ", std::string(path), " does not exist: its ",
                     newest.deleted ? "last version before its delete was " : "version is ",
                     newest.stat.version);
    return result;
  }
  size_t i = newest.deleted ? 1 : 0;
  int64_t oldest_kept = newest.stat.version;
  for (; i < versions.size() && !versions[i].entry.deleted; ++i) {
    oldest_kept = versions[i].entry.stat.version;
    if (versions[i].entry.stat.version != version) continue;
    if (Compacted(versions, i, meta.compact_revision)) {
      result.code = v1::COMPACTED;
      result.message = absl::StrCat("version ", version, " of ", std::string(path),
                                    " was replaced at revision ", versions[i - 1].entry.revision,
                                    ", at or below the compaction revision ",
                                    meta.compact_revision);
      return result;
    }
    result.stat = versions[i].entry.stat;
    result.acl = std::move(versions[i].entry.acl);
    result.data = std::move(versions[i].entry.data);
    return result;
  }
  // Versions of an incarnation are consecutive from 0, so a version in range
  // that is not retained was dropped by the per-node bound.
  result.code = v1::COMPACTED;
  result.message = absl::StrCat("version ", version, " of ", std::string(path),
                                " is no longer kept: each node keeps its last --history_per_node "
                                "versions, the oldest kept is ",
                                oldest_kept);
  return result;
}

absl::StatusOr<NodeResult> TreeStore::GetAtRevision(std::string_view path, uint64_t revision) {
  absl::StatusOr<std::unique_ptr<StateView>> view = NewView();
  if (!view.ok()) return view.status();
  NodeResult result;
  const StoreMeta& meta = (*view)->meta();
  result.revision = meta.applied_index;
  if (!IsValidPath(path)) {
    result.code = v1::INVALID_PATH;
    return result;
  }
  if (revision > meta.applied_index) {
    result.code = v1::INVALID_ARGUMENT;
    result.message = absl::StrCat("revision ", revision, " is ahead of this replica's applied ",
                                  meta.applied_index);
    return result;
  }
  if (revision < meta.compact_revision) {
    result.code = v1::COMPACTED;
    result.message = absl::StrCat("revision ", revision, " is below the compaction revision ",
                                  meta.compact_revision);
    return result;
  }
  std::vector<Version> versions;
  if (absl::Status s = LoadHistory(view->get(), path, &versions); !s.ok()) return s;
  for (Version& v : versions) {
    if (v.entry.revision > revision) continue;
    if (v.entry.deleted) {
      result.code = v1::NO_NODE;
      return result;
    }
    result.stat = v.entry.stat;
    result.acl = std::move(v.entry.acl);
    result.data = std::move(v.entry.data);
    return result;
  }
  // Every retained entry is newer. Seq 1 is the path's first ever entry: if
  // it is still here the path did not exist yet; otherwise older entries
  // were dropped and the answer is unknown.
  if (versions.empty() || versions.back().seq == 1) {
    result.code = v1::NO_NODE;
  } else {
    result.code = v1::COMPACTED;
    result.acl = versions.back().entry.acl;
    result.message = absl::StrCat(std::string(path), " as of revision ", revision,
                                  " is no longer kept: each node keeps its last "
                                  "--history_per_node versions, the oldest kept is from revision ",
                                  versions.back().entry.revision);
  }
  return result;
}

absl::StatusOr<ExistsResult> TreeStore::Exists(std::string_view path) {
  SYNOD_ASSIGN_OR_RETURN(std::unique_ptr<StateView> view, NewView());
  ExistsResult result;
  SYNOD_ASSIGN_OR_RETURN(std::optional<Node> node, ReadNode(view.get(), path, &result));
  if (node.has_value()) {
    result.exists = true;
    result.stat = node->stat;
  }
  // Absent is not an error for exists.
  if (result.code == v1::NO_NODE) result.code = v1::OK;
  return result;
}

absl::StatusOr<ChildrenResult> TreeStore::GetChildren(std::string_view path,
                                                      std::string_view start_after, size_t limit,
                                                      bool include_stats) {
  SYNOD_ASSIGN_OR_RETURN(std::unique_ptr<StateView> view, NewView());
  ChildrenResult result;
  SYNOD_ASSIGN_OR_RETURN(std::optional<Node> node, ReadNode(view.get(), path, &result));
  if (!node.has_value()) return result;
  result.parent_stat = node->stat;
  result.parent_acl = std::move(node->acl);
  std::vector<ChildEntry> children;
  // One more than asked tells whether another page follows.
  absl::Status s = view->ListChildren(path, start_after, limit == 0 ? 0 : limit + 1, &children);
  if (!s.ok()) return s;
  if (limit != 0 && children.size() > limit) {
    children.resize(limit);
    result.has_more = true;
  }
  result.names.reserve(children.size());
  if (include_stats) result.stats.reserve(children.size());
  for (ChildEntry& child : children) {
    result.names.push_back(std::move(child.name));
    if (include_stats) result.stats.push_back(child.node.stat);
  }
  return result;
}

absl::StatusOr<HistoryResult> TreeStore::History(std::string_view path, size_t limit) {
  absl::StatusOr<std::unique_ptr<StateView>> view = NewView();
  if (!view.ok()) return view.status();
  HistoryResult result;
  const StoreMeta& meta = (*view)->meta();
  result.revision = meta.applied_index;
  result.compact_revision = meta.compact_revision;
  if (!IsValidPath(path)) {
    result.code = v1::INVALID_PATH;
    return result;
  }
  std::vector<Version> versions;
  if (absl::Status s = LoadHistory(view->get(), path, &versions); !s.ok()) return s;
  if (!versions.empty()) {
    // A deleted node's tombstone keeps the ACL it had.
    absl::StatusOr<std::optional<Node>> node = (*view)->GetNode(path);
    if (!node.ok()) return node.status();
    result.acl = node->has_value() ? std::move((*node)->acl) : versions[0].entry.acl;
  }
  for (size_t i = 0; i < versions.size(); ++i) {
    if (Compacted(versions, i, meta.compact_revision)) break;
    if (limit != 0 && result.versions.size() == limit) break;
    result.versions.push_back(std::move(versions[i].entry));
  }
  // A tombstone at or below the compaction revision is all that is left of
  // a node deleted before it: as if it had never been.
  if (result.versions.empty() || (versions.size() >= 1 && versions[0].entry.deleted &&
                                  versions[0].entry.revision <= meta.compact_revision)) {
    result.versions.clear();
    result.code = v1::NO_NODE;
  }
  return result;
}

absl::StatusOr<SessionResult> TreeStore::GetSession(uint64_t session_id) {
  absl::StatusOr<std::unique_ptr<StateView>> view = NewView();
  if (!view.ok()) return view.status();
  SessionResult result;
  result.revision = (*view)->meta().applied_index;
  absl::StatusOr<std::optional<Session>> session = (*view)->GetSession(session_id);
  if (!session.ok()) return session.status();
  result.session = std::move(*session);
  return result;
}

absl::StatusOr<std::vector<Session>> TreeStore::ListSessions() {
  absl::StatusOr<std::unique_ptr<StateView>> view = NewView();
  if (!view.ok()) return view.status();
  std::vector<Session> sessions;
  if (absl::Status s = (*view)->ListSessions(&sessions); !s.ok()) return s;
  return sessions;
}

absl::StatusOr<EventsResult> TreeStore::EventsAfter(uint64_t after_revision, size_t limit) {
  absl::StatusOr<std::unique_ptr<StateView>> view = NewView();
  if (!view.ok()) return view.status();
  EventsResult result;
  const StoreMeta& meta = (*view)->meta();
  result.revision = meta.applied_index;
  if (after_revision < meta.compact_revision) {
    result.code = v1::COMPACTED;
    return result;
  }
  absl::Status s = (*view)->ListEvents(after_revision, limit, &result.events);
  if (!s.ok()) return s;
  if (limit != 0 && !result.events.empty()) {
    // Whether anything follows the last complete revision.
    std::vector<v1::WatchEvent> probe;
    s = (*view)->ListEvents(result.events.back().revision(), 1, &probe);
    if (!s.ok()) return s;
    result.has_more = !probe.empty();
  }
  return result;
}

absl::StatusOr<std::vector<std::string>> TreeStore::FindExpired(int64_t now_ms, size_t limit) {
  absl::StatusOr<std::unique_ptr<StateView>> view = NewView();
  if (!view.ok()) return view.status();
  std::vector<std::string> candidates;
  if (absl::Status s = (*view)->ListExpiryCandidates(&candidates); !s.ok()) return s;
  std::vector<std::string> expired;
  for (std::string& path : candidates) {
    if (limit != 0 && expired.size() == limit) break;
    absl::StatusOr<std::optional<Node>> node = (*view)->GetNode(path);
    if (!node.ok()) return node.status();
    bool due = node->has_value() && ExpiredAt(**node, now_ms);
    if (due) expired.push_back(std::move(path));
  }
  return expired;
}

}  // namespace synod::storage
