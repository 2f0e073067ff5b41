// The layout of the RocksDB store's history in rings (format.h, kHistory:
// each path's versions in `ring` slots, slot = seq mod ring) and its
// rewrite when the ring changes size.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "rocksdb/iterator.h"
#include "rocksdb/write_batch.h"
#include "storage/format.h"
#include "storage/rocks_records.h"
#include "storage/rocks_tree_store.h"

namespace synod::storage {

using rocks_records::HistoryRecordSeq;
using rocks_records::kSeqBytes;
using rocks_records::PathFromHistoryKey;
using rocks_records::PrefixEnd;
using rocks_records::Str;

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

}  // namespace synod::storage
