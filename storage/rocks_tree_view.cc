// RocksTreeStore's reads: a StateView over one rocksdb::Snapshot, each
// lookup and scan of the key layout (format.h) through it.
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "rocksdb/iterator.h"
#include "storage/format.h"
#include "storage/rocks_records.h"
#include "storage/rocks_tree_store.h"

namespace synod::storage {

using rocks_records::DecodeEvents;
using rocks_records::DecodeHistoryRecord;
using rocks_records::DecodeMeta;
using rocks_records::HistoryRecordSeq;
using rocks_records::PathFromHistoryKey;
using rocks_records::PrefixEnd;
using rocks_records::Str;

// An iterator over [lower, upper) of one column family (empty bound =
// unbounded); it owns the bound strings RocksDB points to.
class BoundedIterator {
 public:
  BoundedIterator(RocksEnv* env, ColumnFamily cf, rocksdb::ReadOptions options,
                  std::string_view lower, std::string_view upper)
      : lower_(lower), upper_(upper), lower_slice_(lower_), upper_slice_(upper_) {
    if (!lower_.empty()) options.iterate_lower_bound = &lower_slice_;
    if (!upper_.empty()) options.iterate_upper_bound = &upper_slice_;
    it_.reset(env->db()->NewIterator(options, env->cf(cf)));
  }
  BoundedIterator(const BoundedIterator&) = delete;
  BoundedIterator& operator=(const BoundedIterator&) = delete;
  rocksdb::Iterator* operator->() { return it_.get(); }

 private:
  const std::string lower_, upper_;
  const rocksdb::Slice lower_slice_, upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

// A rocksdb::Snapshot and everything read through it.
class RocksTreeStore::View : public StateView {
 public:
  View(RocksTreeStore* store, RocksEnv* env)
      : store_(store), env_(env), snapshot_(env->db()->GetSnapshot()) {
    options_.snapshot = snapshot_;
  }
  ~View() override {
    history_it_.reset();  // before the snapshot it reads
    env_->db()->ReleaseSnapshot(snapshot_);
  }

  absl::Status Init() {
    std::string value;
    rocksdb::Status s =
        env_->db()->Get(options_, env_->cf(ColumnFamily::kMeta), keys::kMetaState, &value);
    // No state meta: a restore is under way and the state is empty so far.
    if (s.IsNotFound()) return absl::OkStatus();
    if (!s.ok()) return FromRocks(s, "read state meta");
    SYNOD_RETURN_IF_ERROR(DecodeMeta(value, &meta_));
    return store_->ReadMetaMessages(options_, &meta_);
  }

  const StoreMeta& meta() const override { return meta_; }

  absl::StatusOr<std::optional<Node>> GetNode(std::string_view path) override {
    rocksdb::PinnableSlice value;
    rocksdb::Status s =
        env_->db()->Get(options_, env_->cf(ColumnFamily::kNodes), keys::NodeKey(path), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocks(s, "read node");
    Node node;
    SYNOD_RETURN_IF_ERROR(DecodeNode(Str(value), &node));
    return node;
  }

  absl::Status GetNodes(const std::vector<std::string>& paths,
                        std::vector<std::optional<Node>>* out) override {
    std::vector<std::string> keys;
    keys.reserve(paths.size());
    for (const std::string& path : paths) keys.push_back(keys::NodeKey(path));
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    env_->db()->MultiGet(options_, env_->cf(ColumnFamily::kNodes), keys.size(), slices.data(),
                         values.data(), statuses.data());
    out->clear();
    out->resize(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) return FromRocks(statuses[i], "read nodes");
      Node& node = out->at(i).emplace();
      SYNOD_RETURN_IF_ERROR(DecodeNode(Str(values[i]), &node));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<Session>> GetSession(uint64_t id) override {
    rocksdb::PinnableSlice value;
    rocksdb::Status s =
        env_->db()->Get(options_, env_->cf(ColumnFamily::kSessions), keys::SessionKey(id), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocks(s, "read session");
    Session session;
    SYNOD_RETURN_IF_ERROR(DecodeSession(Str(value), &session));
    return session;
  }

  absl::Status ListEphemerals(uint64_t session_id, std::vector<std::string>* out) override {
    std::string prefix = keys::EphemeralPrefix(session_id);
    return Scan(ColumnFamily::kSessions, prefix, PrefixEnd(prefix),
                [&](std::string_view key, std::string_view) {
                  out->emplace_back(key.substr(prefix.size()));
                  return absl::OkStatus();
                });
  }

  absl::StatusOr<uint64_t> LastHistorySeq(std::string_view path) override {
    // One unbounded iterator serves every call on this view (apply asks once
    // per create): building an iterator costs more than the seek itself.
    if (history_it_ == nullptr) {
      history_it_.reset(env_->db()->NewIterator(options_, env_->cf(ColumnFamily::kHistory)));
    }
    // The ring's slots are not in seq order: the largest of (at most
    // `ring`) records. None: the path never existed (or all was dropped).
    std::string prefix = keys::HistoryPrefix(path);
    uint64_t last = 0;
    for (history_it_->Seek(prefix);
         history_it_->Valid() && Str(history_it_->key()).starts_with(prefix); history_it_->Next()) {
      uint64_t seq = 0;
      SYNOD_RETURN_IF_ERROR(HistoryRecordSeq(Str(history_it_->value()), &seq));
      last = std::max(last, seq);
    }
    SYNOD_RETURN_IF_ERROR(FromRocks(history_it_->status(), "scan history"));
    return last;
  }

  absl::Status ListGraves(uint64_t max_revision, size_t limit, std::vector<Grave>* out) override {
    std::string prefix(1, keys::kGraveTag);
    BoundedIterator it(env_, ColumnFamily::kHistory, options_, prefix, PrefixEnd(prefix));
    for (it->SeekToFirst(); it->Valid() && (limit == 0 || out->size() < limit); it->Next()) {
      std::string_view key = Str(it->key());
      std::string_view value = Str(it->value());
      if (key.size() < 10 || value.size() != 8) return absl::DataLossError("malformed grave");
      uint64_t revision = keys::ReadBigEndian64(key.substr(1));
      if (revision > max_revision) break;
      out->push_back(Grave{revision, std::string(key.substr(9)), keys::ReadBigEndian64(value)});
    }
    return FromRocks(it->status(), "list graves");
  }

  absl::Status ListChildren(std::string_view parent, std::string_view start_after, size_t limit,
                            std::vector<ChildEntry>* out) override {
    std::string prefix = keys::ChildrenPrefix(parent);
    std::string end = PrefixEnd(prefix);
    BoundedIterator it(env_, ColumnFamily::kNodes, options_, prefix, end);
    std::string start = prefix + std::string(start_after);
    it->Seek(start);
    if (it->Valid() && !start_after.empty() && Str(it->key()) == start) it->Next();
    for (; it->Valid() && (limit == 0 || out->size() < limit); it->Next()) {
      ChildEntry child;
      child.name = std::string(Str(it->key()).substr(prefix.size()));
      SYNOD_RETURN_IF_ERROR(DecodeNode(Str(it->value()), &child.node));
      out->push_back(std::move(child));
    }
    return FromRocks(it->status(), "list children");
  }

  absl::Status ScanHistory(std::string_view path,
                           const std::function<bool(uint64_t, const HistoryEntry&)>& fn) override {
    std::string prefix = keys::HistoryPrefix(path);
    std::string end = PrefixEnd(prefix);
    BoundedIterator it(env_, ColumnFamily::kHistory, options_, prefix, end);
    std::vector<std::pair<uint64_t, HistoryEntry>> entries;  // at most `ring`
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto& [seq, entry] = entries.emplace_back();
      SYNOD_RETURN_IF_ERROR(DecodeHistoryRecord(Str(it->value()), &seq, &entry));
    }
    SYNOD_RETURN_IF_ERROR(FromRocks(it->status(), "scan history"));
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [seq, entry] : entries) {
      if (!fn(seq, entry)) break;
    }
    return absl::OkStatus();
  }

  absl::Status ListEvents(uint64_t after_revision, size_t limit,
                          std::vector<v1::WatchEvent>* out) override {
    // Compacted events may linger in a batch that straddles the compaction
    // revision; they are not returned.
    const uint64_t floor = std::max(after_revision, meta_.compact_revision);
    std::string start = keys::EventKey(floor + 1);
    std::string end(1, keys::kEventTag + 1);
    BoundedIterator it(env_, ColumnFamily::kHistory, options_, start, end);
    size_t taken = 0;
    std::vector<v1::WatchEvent> events;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      events.clear();
      SYNOD_RETURN_IF_ERROR(DecodeEvents(Str(it->value()), &events));
      for (v1::WatchEvent& event : events) {
        if (event.revision() <= floor) continue;
        if (limit != 0 && taken >= limit && event.revision() != out->back().revision()) {
          return absl::OkStatus();
        }
        out->push_back(std::move(event));
        ++taken;
      }
    }
    return FromRocks(it->status(), "list events");
  }

  absl::Status ListSessions(std::vector<Session>* out) override {
    std::string prefix(1, keys::kSessionTag);
    return Scan(ColumnFamily::kSessions, prefix, PrefixEnd(prefix),
                [&](std::string_view, std::string_view value) {
                  Session session;
                  SYNOD_RETURN_IF_ERROR(DecodeSession(value, &session));
                  out->push_back(std::move(session));
                  return absl::OkStatus();
                });
  }

  absl::Status ListExpiryCandidates(std::vector<std::string>* out) override {
    std::string prefix(1, keys::kExpiryTag);
    return Scan(ColumnFamily::kMeta, prefix, PrefixEnd(prefix),
                [&](std::string_view key, std::string_view) {
                  out->emplace_back(key.substr(1));
                  return absl::OkStatus();
                });
  }

  absl::Status ForEachNode(
      const std::function<absl::Status(std::string_view, const Node&)>& fn) override {
    BoundedIterator it(env_, ColumnFamily::kNodes, options_, std::string_view(),
                       std::string_view());
    std::string path;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!keys::PathFromNodeKey(Str(it->key()), &path)) {
        return absl::DataLossError("malformed node key");
      }
      Node node;
      SYNOD_RETURN_IF_ERROR(DecodeNode(Str(it->value()), &node));
      SYNOD_RETURN_IF_ERROR(fn(path, node));
    }
    return FromRocks(it->status(), "scan nodes");
  }

  absl::Status ForEachHistory(const std::function<absl::Status(std::string_view, uint64_t,
                                                               const HistoryEntry&)>& fn) override {
    // Path by path, oldest first (as keys by seq were): a restore into a
    // smaller ring then keeps the newest of each path.
    std::string prefix(1, keys::kHistoryTag);
    std::string current;
    std::vector<std::pair<uint64_t, HistoryEntry>> entries;
    auto flush = [&]() -> absl::Status {
      std::sort(entries.begin(), entries.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [seq, entry] : entries) SYNOD_RETURN_IF_ERROR(fn(current, seq, entry));
      entries.clear();
      return absl::OkStatus();
    };
    SYNOD_RETURN_IF_ERROR(Scan(ColumnFamily::kHistory, prefix, PrefixEnd(prefix),
                               [&](std::string_view key, std::string_view value) {
                                 std::string_view path;
                                 if (!PathFromHistoryKey(key, &path)) {
                                   return absl::DataLossError("bad history key");
                                 }
                                 if (path != current) {
                                   SYNOD_RETURN_IF_ERROR(flush());
                                   current.assign(path);
                                 }
                                 auto& [seq, entry] = entries.emplace_back();
                                 return DecodeHistoryRecord(value, &seq, &entry);
                               }));
    return flush();
  }

 private:
  absl::Status Scan(ColumnFamily cf, std::string_view lower, std::string_view upper,
                    const std::function<absl::Status(std::string_view, std::string_view)>& fn) {
    BoundedIterator it(env_, cf, options_, lower, upper);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      SYNOD_RETURN_IF_ERROR(fn(Str(it->key()), Str(it->value())));
    }
    return FromRocks(it->status(), "scan");
  }

  RocksTreeStore* store_;
  RocksEnv* env_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions options_;
  StoreMeta meta_;
  std::unique_ptr<rocksdb::Iterator> history_it_;  // LastHistorySeq; lazily
};

absl::StatusOr<std::unique_ptr<StateView>> RocksTreeStore::NewView() {
  auto view = std::make_unique<View>(this, env_);
  SYNOD_RETURN_IF_ERROR(view->Init());
  return view;
}

}  // namespace synod::storage
