#include "bench/synod_bench/proc_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace synod::bench {

absl::StatusOr<double> CpuSeconds(const std::vector<int>& pids) {
  const double ticks_per_s = static_cast<double>(sysconf(_SC_CLK_TCK));
  double total = 0;
  for (int pid : pids) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string line;
    if (!std::getline(in, line)) return absl::NotFoundError(absl::StrCat("no process ", pid));
    // The command name (field 2) may hold spaces; fields after its closing
    // parenthesis are plain. utime and stime are fields 14 and 15, i.e. the
    // 12th and 13th after the state field (3).
    const size_t close = line.rfind(')');
    if (close == std::string::npos) return absl::DataLossError("bad /proc stat line");
    std::vector<std::string> f = absl::StrSplit(line.substr(close + 2), ' ');
    uint64_t utime = 0, stime = 0;
    if (f.size() < 13 || !absl::SimpleAtoi(f[11], &utime) || !absl::SimpleAtoi(f[12], &stime)) {
      return absl::DataLossError(absl::StrCat("bad /proc/", pid, "/stat"));
    }
    total += static_cast<double>(utime + stime) / ticks_per_s;
  }
  return total;
}

absl::StatusOr<uint64_t> RssBytes(const std::vector<int>& pids) {
  uint64_t total = 0;
  for (int pid : pids) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
    if (!in) return absl::NotFoundError(absl::StrCat("no process ", pid));
    std::string line;
    bool found = false;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) != 0) continue;
      std::istringstream fields(line.substr(6));
      uint64_t kb = 0;
      fields >> kb;
      total += kb * 1024;
      found = true;
      break;
    }
    if (!found) return absl::DataLossError(absl::StrCat("no VmRSS for ", pid));
  }
  return total;
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(ru.ru_utime) + seconds(ru.ru_stime);
}

}  // namespace synod::bench
