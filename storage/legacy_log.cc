#include "storage/legacy_log.h"

#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "rocksdb/iterator.h"
#include "rocksdb/write_batch.h"

namespace synod::storage {
namespace {

constexpr char kHardStateKey[] = "hard_state";
constexpr char kSnapshotKey[] = "snapshot";
constexpr char kLogLastKey[] = "log_last";

void PutBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint64_t GetBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string Key(raft::LogIndex index) {
  std::string key;
  PutBigEndian64(&key, index);
  return key;
}

absl::StatusOr<raft::Entry> DecodeEntry(raft::LogIndex key_index, const rocksdb::Slice& value) {
  if (value.size() < 4) {
    return absl::DataLossError(absl::StrCat("log entry ", key_index, ": value too short"));
  }
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored = (stored << 8) | static_cast<uint8_t>(value.data()[i]);
  const std::string_view body(value.data() + 4, value.size() - 4);
  if (base::Crc32c(body) != stored) {
    return absl::DataLossError(absl::StrCat("log entry ", key_index, ": checksum mismatch"));
  }
  raft::Entry entry;
  if (!entry.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::DataLossError(absl::StrCat("log entry ", key_index, ": unparsable"));
  }
  if (entry.index() != key_index) {
    return absl::DataLossError(
        absl::StrCat("log entry under key ", key_index, " has index ", entry.index()));
  }
  return entry;
}

// Reads the raft_meta record `key` into `out` (left empty if absent).
template <typename Message>
absl::Status ReadRecord(RocksEnv* env, const char* key, const char* what,
                        std::optional<Message>* out) {
  std::string value;
  rocksdb::Status s =
      env->db()->Get(rocksdb::ReadOptions(), env->cf(ColumnFamily::kRaftMeta), key, &value);
  if (s.IsNotFound()) return absl::OkStatus();
  if (!s.ok()) return FromRocks(s, absl::StrCat("read ", what));
  out->emplace();
  if (!(*out)->ParseFromString(value)) return absl::DataLossError(absl::StrCat("unparsable ", what));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<LegacyLog>> ReadLegacyLog(RocksEnv* env) {
  rocksdb::DB* db = env->db();
  rocksdb::ColumnFamilyHandle* meta = env->cf(ColumnFamily::kRaftMeta);
  LegacyLog log;
  std::string value;
  if (absl::Status st = ReadRecord(env, kHardStateKey, "hard state", &log.hard_state); !st.ok()) {
    return st;
  }
  if (absl::Status st = ReadRecord(env, kSnapshotKey, "snapshot record", &log.snapshot);
      !st.ok()) {
    return st;
  }
  std::optional<std::pair<raft::LogIndex, raft::Term>> recorded_last;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, kLogLastKey, &value);
  if (s.ok()) {
    if (value.size() != 16) return absl::DataLossError("malformed log_last record");
    recorded_last.emplace(GetBigEndian64(value.data()), GetBigEndian64(value.data() + 8));
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "read log_last record");
  }

  const raft::LogIndex snap_index = log.snapshot ? log.snapshot->metadata().index() : 0;
  raft::LogIndex last_index = snap_index;
  raft::Term last_term = log.snapshot ? log.snapshot->metadata().term() : 0;
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions(), env->cf(ColumnFamily::kRaftLog)));
  for (it->Seek(Key(snap_index + 1)); it->Valid(); it->Next()) {
    if (it->key().size() != 8) return absl::DataLossError("malformed log key");
    const raft::LogIndex index = GetBigEndian64(it->key().data());
    if (index != last_index + 1) {
      return absl::DataLossError(
          absl::StrCat("hole in the log: entry ", index, " follows ", last_index));
    }
    absl::StatusOr<raft::Entry> entry = DecodeEntry(index, it->value());
    if (!entry.ok()) return entry.status();
    if (entry->term() < last_term) {
      return absl::DataLossError(absl::StrCat("log entry ", index, " has term ", entry->term(),
                                              " below its predecessor's ", last_term));
    }
    last_index = index;
    last_term = entry->term();
    log.entries.push_back(*std::move(entry));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan log");
  // Nothing, or only the fence: no legacy log.
  if (!log.hard_state && !log.snapshot && log.entries.empty()) return std::nullopt;

  if (recorded_last.has_value()) {
    if (recorded_last->first != last_index || recorded_last->second != last_term) {
      return absl::DataLossError(absl::StrCat(
          "log ends at index ", last_index, " term ", last_term, " but was written up to index ",
          recorded_last->first, " term ", recorded_last->second, " (truncated or corrupt tail)"));
    }
  } else if (last_index != snap_index) {
    return absl::DataLossError("log entries present without a log_last record");
  }
  return log;
}

std::string FenceValue() {
  std::string v;
  PutBigEndian64(&v, std::numeric_limits<uint64_t>::max());
  PutBigEndian64(&v, 0);
  return v;
}

absl::Status DropLegacyLog(RocksEnv* env) {
  rocksdb::WriteBatch batch;
  rocksdb::ColumnFamilyHandle* meta = env->cf(ColumnFamily::kRaftMeta);
  rocksdb::Status s = batch.DeleteRange(env->cf(ColumnFamily::kRaftLog), Key(0),
                                        Key(std::numeric_limits<uint64_t>::max()));
  for (const char* key : {kHardStateKey, kSnapshotKey}) {
    if (s.ok()) s = batch.Delete(meta, key);
  }
  if (s.ok()) s = batch.Put(meta, kLogLastKey, FenceValue());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (s.ok()) s = env->db()->Write(wo, &batch);
  return s.ok() ? absl::OkStatus() : FromRocks(s, "drop the old Raft log");
}

absl::Status FenceLegacyLog(RocksEnv* env) {
  std::string value;
  rocksdb::Status s = env->db()->Get(rocksdb::ReadOptions(), env->cf(ColumnFamily::kRaftMeta),
                                     kLogLastKey, &value);
  if (s.ok() && value == FenceValue()) return absl::OkStatus();
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read the legacy log fence");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = env->db()->Put(wo, env->cf(ColumnFamily::kRaftMeta), kLogLastKey, FenceValue());
  return s.ok() ? absl::OkStatus() : FromRocks(s, "fence the legacy log");
}

absl::Status WriteLegacyLog(RocksEnv* env, const LegacyLog& log) {
  rocksdb::WriteBatch batch;
  rocksdb::ColumnFamilyHandle* meta = env->cf(ColumnFamily::kRaftMeta);
  rocksdb::Status s;
  if (log.hard_state) s = batch.Put(meta, kHardStateKey, log.hard_state->SerializeAsString());
  if (s.ok() && log.snapshot) s = batch.Put(meta, kSnapshotKey, log.snapshot->SerializeAsString());
  for (const raft::Entry& e : log.entries) {
    const std::string body = e.SerializeAsString();
    const uint32_t crc = base::Crc32c(body);
    std::string value;
    for (int i = 0; i < 4; ++i) value.push_back(static_cast<char>(crc >> (24 - 8 * i)));
    value += body;
    if (s.ok()) s = batch.Put(env->cf(ColumnFamily::kRaftLog), Key(e.index()), value);
  }
  if (s.ok() && !log.entries.empty()) {
    std::string last;
    PutBigEndian64(&last, log.entries.back().index());
    PutBigEndian64(&last, log.entries.back().term());
    s = batch.Put(meta, kLogLastKey, last);
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (s.ok()) s = env->db()->Write(wo, &batch);
  return s.ok() ? absl::OkStatus() : FromRocks(s, "write legacy log");
}

}  // namespace synod::storage
