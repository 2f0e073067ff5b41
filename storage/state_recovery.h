// RecoverState: at start-up, brings the replicated state to a point from
// which the Raft log can replay it.
//
// The log holds the entries after its snapshot index C (everything up to C
// is only in snapshot file C: the log is never compacted past a snapshot
// file that exists). The state in RocksDB is at its applied index A, and
// nothing syncs it (the log is the WAL), so after a crash A may lag. If
// A >= C the log replays A+1 onwards and the state is kept. If A < C the
// entries A+1..C are gone from the log: the state must come from snapshot
// file C, restored before anything reads or applies, or the replica would
// serve (and build on) a state that misses committed entries. The same
// holds for a store whose restore was cut short (`restore_pending`).
//
// A snapshot file C that is missing, damaged or not at index C means the
// replica cannot rebuild its state: it must not start (DataLoss), and the
// state is left as it was.
//
// Thread: start-up (main thread), before the apply thread runs.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "storage/snapshot_files.h"
#include "storage/tree_store.h"

namespace synod::storage {

// What RecoverState did.
enum class Recovery {
  kKept,      // the stored state replays from the log
  kRestored,  // the state was restored from snapshot file C
};

// `log_snapshot_index`: C above; at most 1 (LogStore's kBootstrapIndex: a
// founding membership and no state) means the log was never compacted and
// no snapshot is needed. Errors: DataLoss (as above),
// FailedPrecondition (the file is of another format version), Internal
// (I/O).
absl::StatusOr<Recovery> RecoverState(TreeStore* store, bool restore_pending,
                                      const SnapshotFiles& files, uint64_t log_snapshot_index);

}  // namespace synod::storage
