// RocksTreeStore: opening the store, its writes (Commit, the restore
// steps) and their durability; reads are in rocks_tree_view.cc, the history
// ring layout in rocks_history_ring.cc.
#include "storage/rocks_tree_store.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/iterator.h"
#include "rocksdb/write_batch.h"
#include "storage/format.h"
#include "storage/path.h"
#include "storage/rocks_records.h"
#include "base/status_macros.h"

namespace synod::storage {

using rocks_records::DecodeMeta;
using rocks_records::EncodeEvents;
using rocks_records::EncodeMeta;

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
  StoreMeta meta;
  SYNOD_RETURN_IF_ERROR(DecodeMeta(value, &meta));
  SYNOD_RETURN_IF_ERROR(store->ReadMetaMessages(rocksdb::ReadOptions(), &meta));
  absl::MutexLock lock(&store->meta_mu_);
  store->meta_ = std::move(meta);
  return store;
}

absl::Status RocksTreeStore::ReadMetaMessages(const rocksdb::ReadOptions& options,
                                              StoreMeta* meta) {
  SYNOD_ASSIGN_OR_RETURN(meta->auth, auth_.Read(env_, options));
  SYNOD_ASSIGN_OR_RETURN(meta->quotas, quotas_.Read(env_, options));
  return absl::OkStatus();
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

absl::Status RocksTreeStore::AddMetaMessages(const StoreMeta& meta, rocksdb::WriteBatch* batch) {
  SYNOD_RETURN_IF_ERROR(auth_.Add(env_, meta.auth, batch));
  return quotas_.Add(env_, meta.quotas, batch);
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
  if (ws.auth.has_value()) next.auth = *ws.auth;
  if (ws.quotas.has_value()) next.quotas = *ws.quotas;
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
  if (ws.auth.has_value()) SYNOD_RETURN_IF_ERROR(auth_.Add(env_, next.auth, &batch));
  if (ws.quotas.has_value()) SYNOD_RETURN_IF_ERROR(quotas_.Add(env_, next.quotas, &batch));
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
  SYNOD_RETURN_IF_ERROR(AddMetaMessages(meta, &batch));
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
