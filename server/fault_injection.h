// FaultInjection: a test-only network partition for one replica.
//
// When --fault_injection_file names a file, its content (peer ids separated
// by spaces, commas or newlines; empty or missing file = none) is the set of
// peers this replica is cut off from: the peer transport drops every Raft
// message and snapshot to them, and the peer service drops every message
// from them. Writing "2 3" into leader 1's file isolates it from 2 and 3 in
// both directions, which is what the partition test needs without root or
// network namespaces. Production replicas leave the flag empty.
//
// Thread-safe: Isolated() is called from transport and gRPC threads, Poll()
// from the raft thread (it re-reads the file when its mtime or size moved).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace synod::server {

class FaultInjection {
 public:
  explicit FaultInjection(std::string path) : path_(std::move(path)) {}

  bool enabled() const { return !path_.empty(); }
  // True if traffic to/from `peer` must be dropped.
  bool Isolated(uint64_t peer) const;
  // Re-reads the file if it changed; cheap (one stat) when it did not.
  void Poll();

 private:
  const std::string path_;
  mutable absl::Mutex mu_;
  std::set<uint64_t> isolated_ ABSL_GUARDED_BY(mu_);
  // Last seen file identity, to re-read only on change (raft thread only).
  int64_t seen_mtime_ns_ = -1;
  int64_t seen_size_ = -1;
};

}  // namespace synod::server
