#include "server/metrics/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace synod::server::metrics {
namespace {

MetricFamily One(const char* name, const char* help, MetricType type, double value) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  f.samples.push_back(Sample{{}, value});
  return f;
}

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Seconds since the epoch at boot ("btime" in /proc/stat), or -1.
double BootTime() {
  std::istringstream in(ReadFile("/proc/stat"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) {
      double v = 0;
      if (absl::SimpleAtod(line.substr(6), &v)) return v;
    }
  }
  return -1;
}

}  // namespace

bool ParseProcStat(const std::string& line, ProcStat* stat) {
  // The command name (field 2) is in parentheses and may hold spaces or
  // parentheses itself: fields are counted after the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::vector<std::string> f = absl::StrSplit(line.substr(close + 1), ' ', absl::SkipWhitespace());
  // f[0] is field 3 (state); field k is f[k - 3].
  if (f.size() < 22) return false;
  auto get = [&](int field, double* out) { return absl::SimpleAtod(f[field - 3], out); };
  return get(14, &stat->utime_ticks) && get(15, &stat->stime_ticks) &&
         get(20, &stat->num_threads) && get(22, &stat->start_ticks) &&
         get(23, &stat->vsize_bytes) && get(24, &stat->rss_pages);
}

void CollectProcessMetrics(std::vector<MetricFamily>* out) {
  ProcStat st;
  if (!ParseProcStat(ReadFile("/proc/self/stat"), &st)) return;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  out->push_back(One("process_cpu_seconds_total", "User and system CPU time spent, seconds.",
                     MetricType::kCounter, (st.utime_ticks + st.stime_ticks) / ticks));
  out->push_back(One("process_resident_memory_bytes", "Resident memory size, bytes.",
                     MetricType::kGauge, st.rss_pages * page));
  out->push_back(One("process_virtual_memory_bytes", "Virtual memory size, bytes.",
                     MetricType::kGauge, st.vsize_bytes));
  out->push_back(
      One("process_threads", "Threads in the process.", MetricType::kGauge, st.num_threads));
  if (const double boot = BootTime(); boot >= 0) {
    out->push_back(One("process_start_time_seconds",
                       "Start time of the process since the Unix epoch, seconds.",
                       MetricType::kGauge, boot + st.start_ticks / ticks));
  }
  if (DIR* dir = opendir("/proc/self/fd"); dir != nullptr) {
    int n = 0;
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(dir);
    out->push_back(One("process_open_fds", "Open file descriptors.", MetricType::kGauge,
                       n - 1));  // less the one reading the directory
  }
}

}  // namespace synod::server::metrics
