// The records of the RocksDB tree store that more than one of its files
// reads or writes (rocks_tree_store.cc, rocks_tree_view.cc,
// rocks_history_ring.cc): the meta "state" value, history records and keys,
// event lists, and key-range bounds. Layouts: format.h. Internal to the
// RocksTreeStore; other code goes through TreeStore.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "rocksdb/slice.h"
#include "storage/node.h"
#include "storage/tree_store.h"
#include "synod/v1/watch.pb.h"

namespace synod::storage::rocks_records {

// Applied index, digest, compaction revision, then the settings once the
// log recorded them (format.h, kMeta "state").
std::string EncodeMeta(const StoreMeta& meta);
absl::Status DecodeMeta(std::string_view in, StoreMeta* meta);

// The smallest key greater than every key starting with `prefix`, or ""
// (no upper bound) if there is none. Trailing 0xff bytes carry, as in
// 'p' + be64(0x5ff).
std::string PrefixEnd(std::string prefix);

// A history record (format.h, kHistory): be64(seq) + the encoded entry.
inline constexpr size_t kSeqBytes = 8;
absl::Status HistoryRecordSeq(std::string_view value, uint64_t* seq);
absl::Status DecodeHistoryRecord(std::string_view value, uint64_t* seq, HistoryEntry* entry);

// The path of a history key ('h' + path + '\0' + be64), or false.
bool PathFromHistoryKey(std::string_view key, std::string_view* path);

// A list of events: u32 length + serialized WatchEvent, repeated.
std::string EncodeEvents(const std::vector<v1::WatchEvent>& events);
absl::Status DecodeEvents(std::string_view in, std::vector<v1::WatchEvent>* out);

inline std::string_view Str(const rocksdb::Slice& s) {
  return std::string_view(s.data(), s.size());
}

}  // namespace synod::storage::rocks_records
