#include "storage/rocks_tree_store.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/iterator.h"
#include "rocksdb/write_batch.h"
#include "storage/format.h"
#include "storage/path.h"
#include "base/status_macros.h"

namespace synod::storage {
namespace {

// Applied index, digest, compaction revision, then the settings once the
// log recorded them (format.h, kMeta "state").
std::string EncodeMeta(const StoreMeta& meta) {
  std::string out;
  keys::AppendBigEndian64(&out, meta.applied_index);
  keys::AppendBigEndian64(&out, meta.digest);
  keys::AppendBigEndian64(&out, meta.compact_revision);
  if (meta.settings.has_value()) out.append(EncodeSettings(*meta.settings));
  return out;
}

absl::Status DecodeMeta(std::string_view in, StoreMeta* meta) {
  if (in.size() < 24) return absl::DataLossError("malformed state meta");
  meta->applied_index = keys::ReadBigEndian64(in);
  meta->digest = keys::ReadBigEndian64(in.substr(8));
  meta->compact_revision = keys::ReadBigEndian64(in.substr(16));
  meta->settings.reset();
  if (in.size() == 24) return absl::OkStatus();
  ClusterSettings settings;
  SYNOD_RETURN_IF_ERROR(DecodeSettings(in.substr(24), &settings));
  meta->settings = settings;
  return absl::OkStatus();
}

// The smallest key greater than every key starting with `prefix`, or ""
// (no upper bound) if there is none. Trailing 0xff bytes carry, as in
// 'p' + be64(0x5ff).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<uint8_t>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
  return prefix;
}

// A history record (format.h, kHistory): be64(seq) + the encoded entry.
constexpr size_t kSeqBytes = 8;

absl::Status HistoryRecordSeq(std::string_view value, uint64_t* seq) {
  if (value.size() < kSeqBytes) return absl::DataLossError("malformed history record");
  *seq = keys::ReadBigEndian64(value);
  return absl::OkStatus();
}

absl::Status DecodeHistoryRecord(std::string_view value, uint64_t* seq, HistoryEntry* entry) {
  SYNOD_RETURN_IF_ERROR(HistoryRecordSeq(value, seq));
  return DecodeHistoryEntry(value.substr(kSeqBytes), entry);
}

// The path of a history key ('h' + path + '\0' + be64), or false.
bool PathFromHistoryKey(std::string_view key, std::string_view* path) {
  if (key.size() < 1 + 1 + 1 + 8 || key[0] != keys::kHistoryTag || key[key.size() - 9] != '\0') {
    return false;
  }
  *path = key.substr(1, key.size() - 1 - 1 - 8);
  return true;
}

// A list of events: u32 length + serialized WatchEvent, repeated.
std::string EncodeEvents(const std::vector<v1::WatchEvent>& events) {
  std::string out;
  std::string one;
  for (const v1::WatchEvent& event : events) {
    event.SerializeToString(&one);
    uint32_t n = static_cast<uint32_t>(one.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out.append(one);
  }
  return out;
}

absl::Status DecodeEvents(std::string_view in, std::vector<v1::WatchEvent>* out) {
  while (!in.empty()) {
    if (in.size() < 4) return absl::DataLossError("malformed event list");
    uint32_t n = 0;
    for (int i = 3; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(in[i]);
    if (in.size() - 4 < n) return absl::DataLossError("malformed event list");
    v1::WatchEvent& event = out->emplace_back();
    if (!event.ParseFromArray(in.data() + 4, static_cast<int>(n))) {
      return absl::DataLossError("malformed event record");
    }
    in.remove_prefix(4 + n);
  }
  return absl::OkStatus();
}

std::string_view Str(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

}  // namespace

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
  View(RocksEnv* env) : env_(env), snapshot_(env->db()->GetSnapshot()) {
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
    return DecodeMeta(value, &meta_);
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

  RocksEnv* env_;
  const rocksdb::Snapshot* snapshot_;
  rocksdb::ReadOptions options_;
  StoreMeta meta_;
  std::unique_ptr<rocksdb::Iterator> history_it_;  // LastHistorySeq; lazily
};

absl::StatusOr<std::unique_ptr<RocksTreeStore>> RocksTreeStore::Open(RocksEnv* env,
                                                                     const OpenOptions& options) {
  std::unique_ptr<RocksTreeStore> store(new RocksTreeStore(
      env, options.history_ring != 0 ? options.history_ring : ClusterSettings().history_per_node));
  rocksdb::DB* db = env->db();
  rocksdb::ColumnFamilyHandle* meta_cf = env->cf(ColumnFamily::kMeta);
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta_cf, keys::kMetaRestoring, &value);
  if (s.ok()) {
    if (!options.allow_interrupted_restore) {
      return absl::FailedPreconditionError(
          "a snapshot restore was interrupted: restore again, or wipe the replica's state");
    }
    // The state is partial: present it as empty until a restore completes.
    SYNOD_RETURN_IF_ERROR(store->BeginRestore(StoreMeta()));
    absl::MutexLock lock(&store->meta_mu_);
    store->restore_pending_ = true;
    return store;
  }
  if (!s.IsNotFound()) return FromRocks(s, "read restore mark");
  s = db->Get(rocksdb::ReadOptions(), meta_cf, keys::kMetaFormat, &value);
  if (s.IsNotFound()) {
    SYNOD_RETURN_IF_ERROR(store->Initialize());
  } else if (!s.ok()) {
    return FromRocks(s, "read format version");
  } else {
    const uint32_t version = value.size() == 4 ? keys::ReadBigEndian32(value) : 0;
    if (version != kStoreFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "store format ", version == 0 ? "?" : absl::StrCat(version),
          " found, this binary reads only store format ", kStoreFormatVersion,
          " (formats of development builds are not migrated: see docs/operations.md)"));
    }
    uint32_t ring = 0;
    s = db->Get(rocksdb::ReadOptions(), meta_cf, keys::kMetaHistoryRing, &value);
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read history ring");
    if (s.ok() && value.size() == 4) ring = keys::ReadBigEndian32(value);
    StoreMeta recorded;
    s = db->Get(rocksdb::ReadOptions(), meta_cf, keys::kMetaState, &value);
    if (!s.ok()) return FromRocks(s, "read state meta");
    SYNOD_RETURN_IF_ERROR(DecodeMeta(value, &recorded));
    // The ring the recorded settings ask for (a crash may have cut short
    // the resize that followed them), else the one asked for, else the one
    // the store has.
    uint32_t want = recorded.settings.has_value() ? recorded.settings->history_per_node
                    : options.history_ring != 0 ? options.history_ring
                    : ring != 0                 ? ring
                                                : ClusterSettings().history_per_node;
    store->ring_ = want;
    // A ring of another size: rewrite the history before anything reads it.
    if (ring != want) SYNOD_RETURN_IF_ERROR(store->RebuildHistory());
  }
  s = db->Get(rocksdb::ReadOptions(), meta_cf, keys::kMetaState, &value);
  if (!s.ok()) return FromRocks(s, "read state meta");
  absl::MutexLock lock(&store->meta_mu_);
  SYNOD_RETURN_IF_ERROR(DecodeMeta(value, &store->meta_));
  return store;
}

absl::Status RocksTreeStore::Initialize() {
  // A fresh state must not be laid over leftovers of another format.
  std::unique_ptr<rocksdb::Iterator> it(
      env_->db()->NewIterator(rocksdb::ReadOptions(), env_->cf(ColumnFamily::kNodes)));
  it->SeekToFirst();
  if (it->Valid()) {
    return absl::FailedPreconditionError("tree column family holds data but no format version");
  }
  rocksdb::WriteBatch batch;
  StoreMeta meta;
  meta.digest = NodeDigestTerm("/", InitialRoot());
  batch.Put(env_->cf(ColumnFamily::kNodes), keys::NodeKey("/"), EncodeNode(InitialRoot()));
  std::string record;
  keys::AppendBigEndian64(&record, 1);
  record.append(EncodeHistoryEntry(InitialRootHistory()));
  batch.Put(env_->cf(ColumnFamily::kHistory), keys::HistoryKey("/", 1 % ring_), record);
  batch.Put(env_->cf(ColumnFamily::kMeta), keys::kMetaState, EncodeMeta(meta));
  SYNOD_RETURN_IF_ERROR(AddFormat(&batch));
  return WriteState(&batch, /*durable=*/true, "initialize tree store");
}

absl::Status RocksTreeStore::AddFormat(rocksdb::WriteBatch* batch) {
  std::string format;
  keys::AppendBigEndian32(&format, kStoreFormatVersion);
  std::string ring;
  keys::AppendBigEndian32(&ring, ring_);
  rocksdb::ColumnFamilyHandle* meta = env_->cf(ColumnFamily::kMeta);
  SYNOD_RETURN_IF_ERROR(FromRocks(batch->Put(meta, keys::kMetaFormat, format), "batch"));
  return FromRocks(batch->Put(meta, keys::kMetaHistoryRing, ring), "batch");
}

absl::Status RocksTreeStore::RebuildHistory() {
  // Path by path, each in one write batch: its old records go, its newest
  // `ring_` versions come back in their slots. A crash part way leaves each
  // path whole in one ring or the other, and the ring record (written last,
  // durably) still asks for this rebuild, which then redoes it: rewriting a
  // path already in this ring writes the same records again.
  rocksdb::ColumnFamilyHandle* history = env_->cf(ColumnFamily::kHistory);
  std::unique_ptr<rocksdb::Iterator> it(env_->db()->NewIterator(rocksdb::ReadOptions(), history));
  const std::string prefix(1, keys::kHistoryTag);
  const std::string end = PrefixEnd(prefix);
  rocksdb::WriteBatch batch;
  std::string path;
  std::vector<std::string> old_keys;
  std::vector<std::pair<uint64_t, std::string>> versions;  // seq, entry
  auto rewrite = [&]() -> absl::Status {
    for (const std::string& k : old_keys) {
      SYNOD_RETURN_IF_ERROR(FromRocks(batch.Delete(history, k), "batch"));
    }
    std::sort(versions.begin(), versions.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    if (versions.size() > ring_) versions.resize(ring_);
    for (const auto& [seq, entry] : versions) {
      std::string record;
      keys::AppendBigEndian64(&record, seq);
      record.append(entry);
      SYNOD_RETURN_IF_ERROR(
          FromRocks(batch.Put(history, keys::HistoryKey(path, seq % ring_), record), "batch"));
    }
    old_keys.clear();
    versions.clear();
    if (batch.GetDataSize() < (4u << 20)) return absl::OkStatus();
    SYNOD_RETURN_IF_ERROR(WriteState(&batch, /*durable=*/false, "rebuild history"));
    batch.Clear();
    return absl::OkStatus();
  };
  for (it->Seek(prefix); it->Valid() && Str(it->key()) < end; it->Next()) {
    std::string_view key = Str(it->key());
    std::string_view value = Str(it->value());
    std::string_view key_path;
    if (!PathFromHistoryKey(key, &key_path)) return absl::DataLossError("bad history key");
    if (key_path != path) {
      SYNOD_RETURN_IF_ERROR(rewrite());
      path.assign(key_path);
    }
    old_keys.emplace_back(key);
    uint64_t seq = 0;
    SYNOD_RETURN_IF_ERROR(HistoryRecordSeq(value, &seq));
    versions.emplace_back(seq, std::string(value.substr(kSeqBytes)));
  }
  SYNOD_RETURN_IF_ERROR(FromRocks(it->status(), "scan history"));
  SYNOD_RETURN_IF_ERROR(rewrite());
  SYNOD_RETURN_IF_ERROR(AddFormat(&batch));
  return WriteState(&batch, /*durable=*/true, "rebuild history");
}

absl::Status RocksTreeStore::ResizeHistoryRing(uint32_t ring) {
  if (ring == 0) return absl::InvalidArgumentError("history ring must have at least one slot");
  if (ring == ring_) return absl::OkStatus();
  ring_ = ring;
  return RebuildHistory();
}

absl::Status RocksTreeStore::WriteState(rocksdb::WriteBatch* batch, bool durable,
                                        const char* what) {
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  SYNOD_RETURN_IF_ERROR(FromRocks(env_->db()->Write(wo, batch), what));
  if (!durable) return absl::OkStatus();
  rocksdb::FlushOptions fo;
  fo.wait = true;
  // Flushes happen in the background; let this one proceed even when
  // writes are stalled, or it could wait on itself.
  fo.allow_write_stall = true;
  std::vector<rocksdb::ColumnFamilyHandle*> state;
  for (ColumnFamily cf : {ColumnFamily::kNodes, ColumnFamily::kHistory, ColumnFamily::kSessions,
                          ColumnFamily::kMeta}) {
    state.push_back(env_->cf(cf));
  }
  return FromRocks(env_->db()->Flush(fo, state), what);
}

absl::StatusOr<std::unique_ptr<StateView>> RocksTreeStore::NewView() {
  auto view = std::make_unique<View>(env_);
  SYNOD_RETURN_IF_ERROR(view->Init());
  return view;
}

StoreMeta RocksTreeStore::meta() {
  absl::MutexLock lock(&meta_mu_);
  return meta_;
}

absl::Status RocksTreeStore::AddChanges(const WriteSet& ws, rocksdb::WriteBatch* batch) {
  auto check = [](rocksdb::Status s) { return FromRocks(s, "build write batch"); };
  rocksdb::ColumnFamilyHandle* nodes = env_->cf(ColumnFamily::kNodes);
  rocksdb::ColumnFamilyHandle* history = env_->cf(ColumnFamily::kHistory);
  rocksdb::ColumnFamilyHandle* sessions = env_->cf(ColumnFamily::kSessions);
  rocksdb::ColumnFamilyHandle* meta = env_->cf(ColumnFamily::kMeta);
  // Records go in as (head, data) parts: the batch copies the data once,
  // instead of once more into an encoded record first.
  std::string head;
  auto put_parts = [&](rocksdb::ColumnFamilyHandle* cf, const std::string& key,
                       std::string_view data) {
    rocksdb::Slice key_slice(key);
    rocksdb::Slice value[2] = {rocksdb::Slice(head), rocksdb::Slice(data.data(), data.size())};
    return batch->Put(cf, rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(value, 2));
  };
  for (const auto& [path, node] : ws.nodes) {
    std::string k = keys::NodeKey(path);
    if (!node.has_value()) {
      SYNOD_RETURN_IF_ERROR(check(batch->Delete(nodes, k)));
      continue;
    }
    head.clear();
    AppendNodeHead(*node, &head);
    SYNOD_RETURN_IF_ERROR(check(put_parts(nodes, k, node->data)));
  }
  for (const auto& [key, entry] : ws.history) {
    const auto& [path, seq] = key;
    std::string k = keys::HistoryKey(path, seq % ring_);
    if (!entry.has_value()) {
      // The version that falls out of the bound shares its slot with the one
      // this batch adds (seq + ring): the put replaces it, no delete needed.
      // Any other deleted seq is among the newest `ring_` of its path (the
      // Applier's bound is the ring), so its slot still holds it.
      auto next = ws.history.find(std::make_pair(path, seq + ring_));
      if (next != ws.history.end() && next->second.has_value()) continue;
      SYNOD_RETURN_IF_ERROR(check(batch->Delete(history, k)));
      continue;
    }
    head.clear();
    keys::AppendBigEndian64(&head, seq);
    AppendHistoryEntryHead(*entry, &head);
    SYNOD_RETURN_IF_ERROR(check(put_parts(history, k, entry->data)));
  }
  for (const auto& [id, session] : ws.sessions) {
    SYNOD_RETURN_IF_ERROR(check(
        session.has_value() ? batch->Put(sessions, keys::SessionKey(id), EncodeSession(*session))
                            : batch->Delete(sessions, keys::SessionKey(id))));
  }
  for (const auto& [key, seq] : ws.graves) {
    std::string k = keys::GraveKey(key.first, key.second);
    std::string v;
    if (seq.has_value()) keys::AppendBigEndian64(&v, *seq);
    SYNOD_RETURN_IF_ERROR(
        check(seq.has_value() ? batch->Put(history, k, v) : batch->Delete(history, k)));
  }
  for (const auto& [key, add] : ws.ephemerals) {
    std::string k = keys::EphemeralKey(key.first, key.second);
    SYNOD_RETURN_IF_ERROR(check(add ? batch->Put(sessions, k, "") : batch->Delete(sessions, k)));
  }
  for (const auto& [path, add] : ws.expiry) {
    std::string k = keys::ExpiryKey(path);
    SYNOD_RETURN_IF_ERROR(check(add ? batch->Put(meta, k, "") : batch->Delete(meta, k)));
  }
  if (!ws.events.empty()) {
    SYNOD_RETURN_IF_ERROR(check(
        batch->Put(history, keys::EventKey(ws.events.back().revision()), EncodeEvents(ws.events))));
  }
  if (ws.compact_revision.has_value()) {
    SYNOD_RETURN_IF_ERROR(check(
        batch->DeleteRange(history, keys::EventKey(0), keys::EventKey(*ws.compact_revision + 1))));
  }
  return absl::OkStatus();
}

bool RocksTreeStore::restore_pending() {
  absl::MutexLock lock(&meta_mu_);
  return restore_pending_;
}

absl::Status RocksTreeStore::Commit(const WriteSet& ws) {
  StoreMeta next;
  {
    absl::MutexLock lock(&meta_mu_);
    if (restore_pending_) {
      return absl::FailedPreconditionError("a snapshot restore must complete first");
    }
    if (ws.applied_index <= meta_.applied_index) return absl::OkStatus();
    next = meta_;
  }
  next.applied_index = ws.applied_index;
  next.digest = ws.digest;
  if (ws.compact_revision.has_value()) next.compact_revision = *ws.compact_revision;
  if (ws.settings.has_value()) next.settings = ws.settings;
  // Room for the usual records up front, so the batch does not grow by
  // doubling and copying what it holds.
  size_t reserve = 256;
  for (const auto& [path, node] : ws.nodes) {
    reserve += 2 * path.size() + 160 + (node.has_value() ? node->data.size() : 0);
  }
  for (const auto& [key, entry] : ws.history) {
    reserve += key.first.size() + 140 + (entry.has_value() ? entry->data.size() : 0);
  }
  reserve += 160 * ws.events.size();
  rocksdb::WriteBatch batch(reserve);
  SYNOD_RETURN_IF_ERROR(AddChanges(ws, &batch));
  SYNOD_RETURN_IF_ERROR(FromRocks(
      batch.Put(env_->cf(ColumnFamily::kMeta), keys::kMetaState, EncodeMeta(next)), "batch"));
  // Memtables only (see the class comment): the Raft log is the durable
  // record and is replayed from the flushed applied index after a crash.
  SYNOD_RETURN_IF_ERROR(WriteState(&batch, /*durable=*/false, "commit apply batch"));
  absl::MutexLock lock(&meta_mu_);
  meta_ = next;
  return absl::OkStatus();
}

absl::Status RocksTreeStore::BeginRestore(const StoreMeta& target) {
  // The chunks bring up to the recorded bound of versions per path: lay
  // them out in a ring of that size (FinishRestore records it).
  if (target.settings.has_value()) ring_ = target.settings->history_per_node;
  rocksdb::WriteBatch batch;
  for (ColumnFamily cf : {ColumnFamily::kNodes, ColumnFamily::kHistory, ColumnFamily::kSessions,
                          ColumnFamily::kMeta}) {
    std::unique_ptr<rocksdb::Iterator> it(
        env_->db()->NewIterator(rocksdb::ReadOptions(), env_->cf(cf)));
    it->SeekToFirst();
    if (!it->Valid()) {
      SYNOD_RETURN_IF_ERROR(FromRocks(it->status(), "scan for restore"));
      continue;
    }
    std::string first = it->key().ToString();
    it->SeekToLast();
    SYNOD_RETURN_IF_ERROR(FromRocks(it->status(), "scan for restore"));
    std::string last = it->key().ToString();
    SYNOD_RETURN_IF_ERROR(FromRocks(batch.DeleteRange(env_->cf(cf), first, last), "batch"));
    SYNOD_RETURN_IF_ERROR(FromRocks(batch.Delete(env_->cf(cf), last), "batch"));
  }
  // After the range deletes, so the mark survives them.
  SYNOD_RETURN_IF_ERROR(
      FromRocks(batch.Put(env_->cf(ColumnFamily::kMeta), keys::kMetaRestoring, ""), "batch"));
  SYNOD_RETURN_IF_ERROR(WriteState(&batch, /*durable=*/true, "begin restore"));
  absl::MutexLock lock(&meta_mu_);
  meta_ = StoreMeta();
  restore_pending_ = true;
  return absl::OkStatus();
}

absl::Status RocksTreeStore::RestoreChunk(const WriteSet& ws) {
  rocksdb::WriteBatch batch;
  SYNOD_RETURN_IF_ERROR(AddChanges(ws, &batch));
  return WriteState(&batch, /*durable=*/false, "restore chunk");
}

absl::Status RocksTreeStore::FinishRestore(const StoreMeta& meta) {
  rocksdb::WriteBatch batch;
  rocksdb::ColumnFamilyHandle* meta_cf = env_->cf(ColumnFamily::kMeta);
  SYNOD_RETURN_IF_ERROR(AddFormat(&batch));
  SYNOD_RETURN_IF_ERROR(
      FromRocks(batch.Put(meta_cf, keys::kMetaState, EncodeMeta(meta)), "batch"));
  SYNOD_RETURN_IF_ERROR(FromRocks(batch.Delete(meta_cf, keys::kMetaRestoring), "batch"));
  // Durable: once this returns the replica may drop log entries the
  // snapshot covers.
  SYNOD_RETURN_IF_ERROR(WriteState(&batch, /*durable=*/true, "finish restore"));
  absl::MutexLock lock(&meta_mu_);
  meta_ = meta;
  restore_pending_ = false;
  return absl::OkStatus();
}

}  // namespace synod::storage
