// What synod-bench reads about server processes from /proc: CPU time
// (utime + stime of /proc/PID/stat, all threads) and resident memory
// (VmRSS of /proc/PID/status). Linux only. Thread: any (no state).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace synod::bench {

// Total user + system CPU seconds of each process, summed. Fails if a
// process is gone (its figure would be meaningless).
absl::StatusOr<double> CpuSeconds(const std::vector<int>& pids);

// Sum of VmRSS over the processes, bytes.
absl::StatusOr<uint64_t> RssBytes(const std::vector<int>& pids);

// This process's own user + system CPU seconds (the load generator's cost).
double SelfCpuSeconds();

}  // namespace synod::bench
