#include "storage/log_store.h"

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/file_checksum.h"
#include "rocksdb/iterator.h"
#include "rocksdb/slice.h"
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

uint32_t Crc32c(std::string_view bytes) {
  // RocksDB's CRC32C through its public checksum-generator interface; the
  // 4 bytes it returns are compared as a number.
  static const auto factory = rocksdb::GetFileChecksumGenCrc32cFactory();
  auto gen = factory->CreateFileChecksumGenerator(rocksdb::FileChecksumGenContext{});
  gen->Update(bytes.data(), bytes.size());
  gen->Finalize();
  const std::string sum = gen->GetChecksum();
  uint32_t v = 0;
  for (char c : sum) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

std::string EncodeEntry(const raft::Entry& entry) {
  // Serialized in place after the 4 checksum bytes: one allocation and no
  // copy of the body (entries are mostly client data).
  const size_t size = entry.ByteSizeLong();
  std::string out(4 + size, '\0');
  entry.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + 4));
  const uint32_t crc = Crc32c(std::string_view(out).substr(4));
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(crc >> (24 - 8 * i));
  return out;
}

absl::StatusOr<raft::Entry> DecodeEntry(raft::LogIndex key_index, const rocksdb::Slice& value) {
  if (value.size() < 4) {
    return absl::DataLossError(absl::StrCat("log entry ", key_index, ": value too short"));
  }
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored = (stored << 8) | static_cast<uint8_t>(value.data()[i]);
  const std::string_view body(value.data() + 4, value.size() - 4);
  if (Crc32c(body) != stored) {
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

std::string EncodeLast(raft::LogIndex index, raft::Term term) {
  std::string out;
  PutBigEndian64(&out, index);
  PutBigEndian64(&out, term);
  return out;
}

[[noreturn]] void Fatal(const absl::Status& status, const char* what) {
  std::fprintf(stderr, "FATAL: LogStore: %s: %s\n", what, status.ToString().c_str());
  std::fflush(stderr);
  std::abort();
}

void CheckOk(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) Fatal(FromRocks(s, what), what);
}

}  // namespace

std::string LogKey(raft::LogIndex index) {
  std::string key;
  PutBigEndian64(&key, index);
  return key;
}

absl::StatusOr<std::unique_ptr<LogStore>> LogStore::Open(RocksEnv* env, const Options& options) {
  std::unique_ptr<LogStore> store(new LogStore(env, options));
  if (absl::Status s = store->Load(); !s.ok()) return s;
  return store;
}

absl::Status LogStore::Load() {
  rocksdb::DB* db = env_->db();
  rocksdb::ColumnFamilyHandle* meta = env_->cf(ColumnFamily::kRaftMeta);
  absl::MutexLock lock(&mu_);

  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, kHardStateKey, &value);
  if (s.ok()) {
    if (!hard_state_.ParseFromString(value)) return absl::DataLossError("unparsable hard state");
    has_hard_state_ = true;
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "read hard state");
  }
  s = db->Get(rocksdb::ReadOptions(), meta, kSnapshotKey, &value);
  if (s.ok()) {
    if (!snapshot_.ParseFromString(value)) return absl::DataLossError("unparsable snapshot record");
    has_snapshot_ = true;
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "read snapshot record");
  }
  std::optional<std::pair<raft::LogIndex, raft::Term>> recorded_last;
  s = db->Get(rocksdb::ReadOptions(), meta, kLogLastKey, &value);
  if (s.ok()) {
    if (value.size() != 16) return absl::DataLossError("malformed log_last record");
    recorded_last.emplace(GetBigEndian64(value.data()), GetBigEndian64(value.data() + 8));
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "read log_last record");
  }

  const raft::LogIndex snap_index = snapshot_.metadata().index();
  last_index_ = snap_index;
  last_term_ = snapshot_.metadata().term();

  // Verify every retained entry; keep the newest ones in the cache.
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions(), env_->cf(ColumnFamily::kRaftLog)));
  for (it->Seek(LogKey(snap_index + 1)); it->Valid(); it->Next()) {
    if (it->key().size() != 8) return absl::DataLossError("malformed log key");
    const raft::LogIndex index = GetBigEndian64(it->key().data());
    if (index != last_index_ + 1) {
      return absl::DataLossError(
          absl::StrCat("hole in the log: entry ", index, " follows ", last_index_));
    }
    absl::StatusOr<raft::Entry> entry = DecodeEntry(index, it->value());
    if (!entry.ok()) return entry.status();
    if (entry->term() < last_term_) {
      return absl::DataLossError(absl::StrCat("log entry ", index, " has term ", entry->term(),
                                              " below its predecessor's ", last_term_));
    }
    last_index_ = index;
    last_term_ = entry->term();
    CachePush(*std::move(entry));
    CacheTrim();
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan log");

  if (recorded_last.has_value()) {
    if (recorded_last->first != last_index_ || recorded_last->second != last_term_) {
      return absl::DataLossError(absl::StrCat(
          "log ends at index ", last_index_, " term ", last_term_, " but was written up to index ",
          recorded_last->first, " term ", recorded_last->second, " (truncated or corrupt tail)"));
    }
  } else if (last_index_ != snap_index) {
    return absl::DataLossError("log entries present without a log_last record");
  }
  if (hard_state_.commit() > last_index_) {
    return absl::DataLossError(absl::StrCat("commit index ", hard_state_.commit(),
                                            " is past the end of the log (", last_index_, ")"));
  }
  return absl::OkStatus();
}

bool LogStore::IsEmpty() const {
  absl::MutexLock lock(&mu_);
  return !has_hard_state_ && !has_snapshot_ && last_index_ == 0;
}

absl::Status LogStore::Bootstrap(const raft::ConfState& conf_state, std::string descriptor) {
  if (!IsEmpty()) return absl::FailedPreconditionError("log store is not empty");
  // The same start as raft::MemoryLogStorage::Bootstrap: a snapshot at
  // index 1, term 1 that holds the founding membership (and an empty state),
  // so every founding member starts from an identical log, and a member
  // added later with an empty log is caught up by a snapshot.
  raft::Snapshot snapshot;
  snapshot.mutable_metadata()->set_index(kBootstrapIndex);
  snapshot.mutable_metadata()->set_term(1);
  *snapshot.mutable_metadata()->mutable_conf_state() = conf_state;
  snapshot.set_data(std::move(descriptor));
  raft::HardState hard_state;
  hard_state.set_term(1);
  hard_state.set_commit(kBootstrapIndex);
  Save(snapshot, {}, hard_state, /*sync=*/true);
  return absl::OkStatus();
}

void LogStore::Save(const raft::Ready& ready) {
  Save(ready.snapshot, ready.entries, ready.hard_state, ready.must_sync);
}

void LogStore::Save(raft::Ready* ready) {
  Save(ready->snapshot, std::move(ready->entries), ready->hard_state, ready->must_sync);
  ready->entries.clear();
}

void LogStore::Save(const std::optional<raft::Snapshot>& snapshot, std::vector<raft::Entry> entries,
                    const std::optional<raft::HardState>& hard_state, bool sync) {
  if (!snapshot.has_value() && entries.empty() && !hard_state.has_value()) return;
  rocksdb::ColumnFamilyHandle* log = env_->cf(ColumnFamily::kRaftLog);
  rocksdb::ColumnFamilyHandle* meta = env_->cf(ColumnFamily::kRaftMeta);

  raft::LogIndex last_index;
  raft::Term last_term;
  {
    absl::MutexLock lock(&mu_);
    last_index = last_index_;
    last_term = last_term_;
  }

  rocksdb::WriteBatch batch;
  if (snapshot.has_value()) {
    // An installed snapshot replaces the whole log (§5.3: the follower's log
    // is discarded; entries after the snapshot arrive afterwards).
    CheckOk(batch.DeleteRange(log, LogKey(0), LogKey(std::numeric_limits<uint64_t>::max())),
            "batch delete log");
    CheckOk(batch.Put(meta, kSnapshotKey, snapshot->SerializeAsString()), "batch put snapshot");
    last_index = snapshot->metadata().index();
    last_term = snapshot->metadata().term();
  }
  if (!entries.empty()) {
    const raft::LogIndex first = entries.front().index();
    if (first > last_index + 1) {
      Fatal(absl::InternalError(
                absl::StrCat("append at ", first, " leaves a hole after ", last_index)),
            "append");
    }
    const raft::LogIndex new_last = entries.back().index();
    if (new_last < last_index) {
      // The new entries conflict with a longer tail: drop what they do not
      // overwrite (overwritten keys are simply Put again).
      CheckOk(batch.DeleteRange(log, LogKey(new_last + 1), LogKey(last_index + 1)),
              "batch truncate log");
    }
    for (const raft::Entry& e : entries) {
      CheckOk(batch.Put(log, LogKey(e.index()), EncodeEntry(e)), "batch put entry");
    }
    last_index = new_last;
    last_term = entries.back().term();
  }
  if (snapshot.has_value() || !entries.empty()) {
    CheckOk(batch.Put(meta, kLogLastKey, EncodeLast(last_index, last_term)), "batch put log_last");
  }
  if (hard_state.has_value()) {
    CheckOk(batch.Put(meta, kHardStateKey, hard_state->SerializeAsString()),
            "batch put hard state");
  }

  // Written unsynced, then made durable with SyncWAL: the same fdatasync of
  // the shared WAL (and of its directory after a WAL switch) as a synced
  // Write, and Save still returns only after it. But a synced Write keeps
  // RocksDB's write queue through the fdatasync, so the apply thread's
  // unsynced batch that queues behind it (or joins its group) waits for the
  // disk; SyncWAL runs outside the queue. The batch is readable in RocksDB
  // before it is durable, but the core (on this thread) learns of the new
  // entries only through the view updated below, after the sync.
  CheckOk(env_->db()->Write(rocksdb::WriteOptions(), &batch), "write Raft log batch");
  if (sync || snapshot.has_value()) CheckOk(env_->db()->SyncWAL(), "sync Raft log");

  absl::MutexLock lock(&mu_);
  if (snapshot.has_value()) {
    snapshot_ = *snapshot;
    has_snapshot_ = true;
    cache_.clear();
    cache_memory_ = 0;
    last_index_ = snapshot->metadata().index();
    last_term_ = snapshot->metadata().term();
  }
  if (!entries.empty()) CacheAppend(std::move(entries));
  if (hard_state.has_value()) {
    hard_state_ = *hard_state;
    has_hard_state_ = true;
  }
}

void LogStore::CacheAppend(std::vector<raft::Entry>&& entries) {
  const raft::LogIndex first = entries.front().index();
  while (!cache_.empty() && cache_.back().entry.index() >= first) {
    cache_memory_ -= cache_.back().memory;
    cache_.pop_back();
  }
  // Keep the cache a contiguous suffix: if a truncation reached below it,
  // it is now empty and restarts with these entries.
  last_index_ = entries.back().index();
  last_term_ = entries.back().term();
  for (raft::Entry& e : entries) CachePush(std::move(e));
  CacheTrim();
}

size_t LogStore::CachedMemory(const raft::Entry& entry) {
  // The entry's payload lives in its own heap block; the message, its
  // bookkeeping and the deque slot are sizeof(Cached). Other fields are
  // integers inside the message.
  return sizeof(Cached) + entry.data().capacity();
}

void LogStore::CachePush(raft::Entry&& entry) {
  const size_t bytes = entry.ByteSizeLong();
  const size_t memory = CachedMemory(entry);
  cache_.push_back(Cached{std::move(entry), bytes, memory});
  cache_memory_ += memory;
}

void LogStore::CacheTrim() {
  while (cache_.size() > 1 && cache_memory_ > options_.cache_bytes) {
    cache_memory_ -= cache_.front().memory;
    cache_.pop_front();
  }
}

size_t LogStore::cache_memory() const {
  absl::MutexLock lock(&mu_);
  return cache_memory_;
}

absl::Status LogStore::SaveSnapshot(const raft::Snapshot& snapshot) {
  const raft::LogIndex index = snapshot.metadata().index();
  raft::LogIndex first;
  {
    absl::MutexLock lock(&mu_);
    if (index <= snapshot_.metadata().index()) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot at ", index, " is not newer than ", snapshot_.metadata().index()));
    }
    if (index > last_index_) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot at ", index, " is past the log end ", last_index_));
    }
    first = snapshot_.metadata().index() + 1;
  }
  absl::StatusOr<raft::Term> term = TermAt(index);
  if (!term.ok()) return term.status();
  if (*term != snapshot.metadata().term()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot at ", index, " has term ", snapshot.metadata().term(), ", log has ", *term));
  }
  rocksdb::WriteBatch batch;
  CheckOk(batch.Put(env_->cf(ColumnFamily::kRaftMeta), kSnapshotKey, snapshot.SerializeAsString()),
          "batch put snapshot");
  CheckOk(batch.DeleteRange(env_->cf(ColumnFamily::kRaftLog), LogKey(first), LogKey(index + 1)),
          "batch compact log");
  // Synced: it also makes every earlier (unsynced) apply batch durable, so
  // the state covers the deleted entries before they are gone.
  rocksdb::WriteOptions wo;
  wo.sync = true;
  CheckOk(env_->db()->Write(wo, &batch), "write snapshot record");

  absl::MutexLock lock(&mu_);
  snapshot_ = snapshot;
  has_snapshot_ = true;
  while (!cache_.empty() && cache_.front().entry.index() <= index) {
    cache_memory_ -= cache_.front().memory;
    cache_.pop_front();
  }
  return absl::OkStatus();
}

absl::StatusOr<raft::InitialState> LogStore::GetInitialState() const {
  absl::MutexLock lock(&mu_);
  raft::InitialState state;
  state.hard_state = hard_state_;
  state.conf_state = snapshot_.metadata().conf_state();
  return state;
}

absl::StatusOr<std::vector<raft::Entry>> LogStore::Entries(raft::LogIndex lo, raft::LogIndex hi,
                                                           uint64_t max_bytes) const {
  std::vector<raft::Entry> out;
  raft::LogIndex cache_first;
  {
    absl::MutexLock lock(&mu_);
    if (lo <= snapshot_.metadata().index()) {
      return absl::OutOfRangeError(absl::StrCat("entry ", lo, " is compacted"));
    }
    if (hi > last_index_ + 1) {
      return absl::NotFoundError(
          absl::StrCat("entries up to ", hi - 1, " requested; log ends at ", last_index_));
    }
    if (lo >= hi) return out;
    cache_first = cache_.empty() ? last_index_ + 1 : cache_.front().entry.index();
    if (lo >= cache_first) {
      uint64_t bytes = 0;
      for (size_t i = lo - cache_first; i < cache_.size() && cache_[i].entry.index() < hi; ++i) {
        bytes += cache_[i].bytes;
        if (!out.empty() && bytes > max_bytes) break;
        out.push_back(cache_[i].entry);
      }
      return out;
    }
  }
  // Older than the cache: read from RocksDB (outside the lock; the writer
  // never rewrites entries below the cache except by truncation, which the
  // core never asks to read concurrently).
  absl::StatusOr<std::vector<raft::Entry>> read = ReadEntries(lo, hi, max_bytes);
  if (!read.ok()) return read.status();
  return read;
}

absl::StatusOr<std::vector<raft::Entry>> LogStore::ReadEntries(raft::LogIndex lo, raft::LogIndex hi,
                                                               uint64_t max_bytes) const {
  std::vector<raft::Entry> out;
  const std::string upper = LogKey(hi);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(
      env_->db()->NewIterator(ro, env_->cf(ColumnFamily::kRaftLog)));
  uint64_t bytes = 0;
  raft::LogIndex expect = lo;
  for (it->Seek(LogKey(lo)); it->Valid(); it->Next()) {
    const raft::LogIndex index = GetBigEndian64(it->key().data());
    if (index != expect) {
      return absl::DataLossError(absl::StrCat("log entry ", expect, " missing"));
    }
    absl::StatusOr<raft::Entry> entry = DecodeEntry(index, it->value());
    if (!entry.ok()) return entry.status();
    bytes += entry->ByteSizeLong();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(*std::move(entry));
    ++expect;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read log");
  if (out.empty() || (expect < hi && bytes <= max_bytes)) {
    // The range was compacted under us (a snapshot landed meanwhile).
    absl::MutexLock lock(&mu_);
    if (lo <= snapshot_.metadata().index()) {
      return absl::OutOfRangeError(absl::StrCat("entry ", lo, " is compacted"));
    }
    return absl::DataLossError(absl::StrCat("log entries [", lo, ", ", hi, ") missing"));
  }
  return out;
}

absl::StatusOr<raft::Term> LogStore::TermAt(raft::LogIndex i) const {
  {
    absl::MutexLock lock(&mu_);
    const raft::LogIndex snap = snapshot_.metadata().index();
    if (i == snap) return snapshot_.metadata().term();
    if (i < snap) return absl::OutOfRangeError(absl::StrCat("term of ", i, " is compacted"));
    if (i > last_index_) {
      return absl::NotFoundError(absl::StrCat("term of ", i, ": log ends at ", last_index_));
    }
    if (i == last_index_) return last_term_;
    if (!cache_.empty() && i >= cache_.front().entry.index()) {
      return cache_[i - cache_.front().entry.index()].entry.term();
    }
  }
  absl::StatusOr<std::vector<raft::Entry>> one = ReadEntries(i, i + 1, 0);
  if (!one.ok()) return one.status();
  return one->front().term();
}

raft::LogIndex LogStore::FirstIndex() const {
  absl::MutexLock lock(&mu_);
  return snapshot_.metadata().index() + 1;
}

raft::LogIndex LogStore::LastIndex() const {
  absl::MutexLock lock(&mu_);
  return last_index_;
}

absl::StatusOr<raft::Snapshot> LogStore::GetSnapshot() const {
  absl::MutexLock lock(&mu_);
  return snapshot_;
}

raft::HardState LogStore::hard_state() const {
  absl::MutexLock lock(&mu_);
  return hard_state_;
}

}  // namespace synod::storage
