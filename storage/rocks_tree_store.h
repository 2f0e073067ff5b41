// RocksTreeStore: the TreeStore on the replica's RocksEnv, in the column
// families kNodes, kHistory, kSessions and kMeta (key layout: format.h).
//
// Each Commit is one rocksdb::WriteBatch holding the changes and the meta
// (applied index, digest, compaction revision), written to the memtables
// only, without RocksDB's WAL: the Raft log is the durable record (as in
// etcd, whose state backend commits lazily behind its WAL). RocksEnv opens
// the DB with atomic_flush, so the state column families always reach disk
// together as the state after some prefix of the commits; after a crash the
// replica replays the log from the flushed applied index, or restores the
// log's snapshot file when the flushed state is older than it (replica.cc).
// Writes that must survive on their own (initialisation, the restore
// marks) are followed by a flush of the state column families. No state
// write may use the WAL: a WAL write replayed on top of an older flushed
// state would mix two points in time. Each StateView is a rocksdb::Snapshot.
//
// Thread-safety: reads from any thread; Commit/Restore from the apply thread
// only (one writer).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/format.h"
#include "storage/rocks_env.h"
#include "storage/rocks_meta_message.h"
#include "storage/tree_store.h"

namespace synod::storage {

class RocksTreeStore : public TreeStore {
 public:
  struct OpenOptions {
    // A snapshot restore was cut short (crash): open anyway with an empty
    // state (applied index 0) that refuses Commit until RestoreSnapshot
    // completes. Otherwise such a store refuses to open.
    bool allow_interrupted_restore = false;
    // Versions kept per node: the slots of each path's history ring
    // (format.h). A store whose state records cluster settings uses their
    // history_per_node whatever this says. Otherwise: 0 keeps the ring the
    // store has (a fresh store: ClusterSettings' default); another value
    // has the history rewritten to it on open, the newest versions of each
    // path kept.
    uint32_t history_ring = 0;
  };

  // Opens the state in `env` (which must outlive the store). A fresh DB is
  // initialized with the root node and the current format version.
  // Errors: FailedPrecondition (a format version other than
  // kStoreFormatVersion, named in the message; or an interrupted snapshot
  // restore without allow_interrupted_restore), DataLoss, Internal.
  static absl::StatusOr<std::unique_ptr<RocksTreeStore>> Open(RocksEnv* env,
                                                              const OpenOptions& options);
  static absl::StatusOr<std::unique_ptr<RocksTreeStore>> Open(RocksEnv* env) {
    return Open(env, OpenOptions());
  }

  // True while a restore is unfinished (see OpenOptions).
  bool restore_pending();

  absl::StatusOr<std::unique_ptr<StateView>> NewView() override;
  absl::Status Commit(const WriteSet& ws) override;
  StoreMeta meta() override;
  uint32_t history_ring() const override { return ring_; }
  absl::Status ResizeHistoryRing(uint32_t ring) override;

 protected:
  absl::Status BeginRestore(const StoreMeta& target) override;
  absl::Status RestoreChunk(const WriteSet& ws) override;
  absl::Status FinishRestore(const StoreMeta& meta) override;

 private:
  class View;

  RocksTreeStore(RocksEnv* env, uint32_t ring) : env_(env), ring_(ring) {}
  absl::Status Initialize();
  // Adds the format version and the history ring size to `batch`.
  absl::Status AddFormat(rocksdb::WriteBatch* batch);
  // Adds the meta "auth" and "quotas" values of `meta` (null: their
  // removal) to `batch`.
  absl::Status AddMetaMessages(const StoreMeta& meta, rocksdb::WriteBatch* batch);
  // Rewrites the history into rings of ring_ slots (from another ring size)
  // and records the format; see Open.
  absl::Status RebuildHistory();
  // Writes `batch` (state column families only) without the WAL; with
  // `durable`, flushes the state column families before returning.
  absl::Status WriteState(rocksdb::WriteBatch* batch, bool durable, const char* what);
  // Adds the changes of `ws` (not its meta) to `batch`.
  absl::Status AddChanges(const WriteSet& ws, rocksdb::WriteBatch* batch);

  // Reads the meta "auth" and "quotas" values through `options` into
  // meta->auth and meta->quotas. Any thread.
  absl::Status ReadMetaMessages(const rocksdb::ReadOptions& options, StoreMeta* meta);

  RocksEnv* env_;
  RocksMetaMessage<v1::AuthState> auth_{keys::kMetaAuth, "auth meta"};
  RocksMetaMessage<v1::QuotaState> quotas_{keys::kMetaQuotas, "quota meta"};
  // History slots per path. Written only by Open and the apply thread
  // (ResizeHistoryRing, BeginRestore), which is also the only reader.
  uint32_t ring_;
  absl::Mutex meta_mu_;
  StoreMeta meta_ ABSL_GUARDED_BY(meta_mu_);
  bool restore_pending_ ABSL_GUARDED_BY(meta_mu_) = false;
};

}  // namespace synod::storage
