// Process metrics in the names Prometheus client libraries use, read from
// /proc/self at scrape time: process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds, process_open_fds, process_threads.
//
// Thread: any (reads files only).
#pragma once

#include <string>
#include <vector>

#include "server/metrics/prometheus_text.h"

namespace synod::server::metrics {

// Appends the process families; nothing if /proc/self/stat is unreadable.
void CollectProcessMetrics(std::vector<MetricFamily>* out);

// Parses the fields of a /proc/<pid>/stat line that CollectProcessMetrics
// uses (exposed for tests). False if the line does not parse.
struct ProcStat {
  double utime_ticks = 0;
  double stime_ticks = 0;
  double num_threads = 0;
  double start_ticks = 0;  // since boot
  double vsize_bytes = 0;
  double rss_pages = 0;
};
bool ParseProcStat(const std::string& line, ProcStat* stat);

}  // namespace synod::server::metrics
