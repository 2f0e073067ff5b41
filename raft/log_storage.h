// LogStorage: what the driver has made durable, as the Raft core reads it.
//
// The core never writes through this interface: the driver persists what a
// Ready hands it (entries, hard state, snapshot) and then the storage reflects
// it. Implementations: MemoryLogStorage (tests, simulator) and the RocksDB
// LogStore (storage/).
//
// Error contract (checked by the core):
//   kCompacted   -> absl::OutOfRangeError   (index <= snapshot index)
//   kUnavailable -> absl::NotFoundError     (index > LastIndex())
// Anything else is a storage failure and is fatal to the core.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"

namespace synod::raft {

struct InitialState {
  HardState hard_state;
  // The membership as of Config::applied: entries after it are applied
  // again (and their membership changes with them).
  ConfState conf_state;
};

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  // Hard state and membership at startup.
  virtual absl::StatusOr<InitialState> GetInitialState() const = 0;
  // Entries in [lo, hi), at least one if any exist in range, total size
  // bounded by max_bytes otherwise. OutOfRange if lo is compacted, NotFound
  // if hi > LastIndex() + 1.
  virtual absl::StatusOr<std::vector<Entry>> Entries(LogIndex lo, LogIndex hi,
                                                     uint64_t max_bytes) const = 0;
  // Term of entry i; i may be the snapshot index (its term is known).
  virtual absl::StatusOr<Term> TermAt(LogIndex i) const = 0;
  // Index of the first entry still available (at most snapshot index + 1:
  // the driver may keep entries below its latest snapshot).
  virtual LogIndex FirstIndex() const = 0;
  // Index of the last entry (snapshot index if the log is empty).
  virtual LogIndex LastIndex() const = 0;
  // The most recent snapshot. Unavailable if one is being produced and the
  // core should retry later.
  virtual absl::StatusOr<Snapshot> GetSnapshot() const = 0;
};

}  // namespace synod::raft
