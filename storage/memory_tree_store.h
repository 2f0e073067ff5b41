// MemoryTreeStore: the reference TreeStore, plain std containers under one
// mutex. It keeps its indexes (children of a parent, ephemerals of a
// session, TTL/container paths) by itself from the node changes, not from
// the WriteSet's index entries, so the differential test also checks the
// overlay's index bookkeeping that RocksTreeStore relies on.
//
// Thread-safety: any thread. A StateView holds a reader lock for its whole
// life; Commit takes the writer lock.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/tree_store.h"

namespace synod::storage {

class MemoryTreeStore : public TreeStore {
 public:
  // A fresh state: the root "/" only, applied index 0.
  MemoryTreeStore();

  absl::StatusOr<std::unique_ptr<StateView>> NewView() override;
  absl::Status Commit(const WriteSet& ws) override;
  StoreMeta meta() override;

 protected:
  absl::Status BeginRestore(const StoreMeta& target) override;
  absl::Status RestoreChunk(const WriteSet& ws) override;
  absl::Status FinishRestore(const StoreMeta& meta) override;

 private:
  class View;
  friend class View;

  void ApplyChanges(const WriteSet& ws) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ClearState() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  StoreMeta meta_ ABSL_GUARDED_BY(mu_);
  bool restore_pending_ ABSL_GUARDED_BY(mu_) = false;  // refuses Commit
  std::map<std::string, Node, std::less<>> nodes_ ABSL_GUARDED_BY(mu_);
  // parent path -> child names (byte order).
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> children_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<uint64_t, HistoryEntry>, std::less<>> history_
      ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint64_t, uint32_t>, v1::WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Session> sessions_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint64_t, std::string>, uint64_t> graves_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<uint64_t, std::string>> ephemerals_ ABSL_GUARDED_BY(mu_);
  std::set<std::string, std::less<>> expiry_ ABSL_GUARDED_BY(mu_);
};

}  // namespace synod::storage
