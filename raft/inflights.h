// Inflights: the MSG_APPs sent to one follower and not yet acknowledged, the
// window of pipelined AppendEntries (§10.2.1). The leader stops sending to a
// follower whose window is full and frees slots as acknowledgements arrive.
//
// Thread: owned by one Progress, single-threaded.
// Invariant: the recorded last indexes increase from oldest to newest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "raft/types.h"

namespace synod::raft {

class Inflights {
 public:
  // capacity: messages in flight at most; max_bytes: their entries' bytes at
  // most (0 = no byte limit).
  Inflights(size_t capacity, uint64_t max_bytes);

  // Records a message whose last entry is `index`, carrying `bytes`.
  void Add(LogIndex index, uint64_t bytes);
  // Frees every message whose last index is <= index (acknowledged).
  void FreeLE(LogIndex index);
  // Frees the oldest message: a heartbeat answer proves the follower is
  // alive, so a window clogged by lost messages may send again.
  void FreeFirstOne();
  bool Full() const;
  size_t Count() const { return count_; }
  uint64_t bytes() const { return bytes_; }
  void Reset();

 private:
  struct Slot {
    LogIndex index = 0;
    uint64_t bytes = 0;
  };
  std::vector<Slot> buffer_;  // ring buffer, grown lazily up to capacity_
  size_t capacity_;
  uint64_t max_bytes_;
  size_t start_ = 0;
  size_t count_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace synod::raft
