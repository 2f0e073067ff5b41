#include "server/fault_injection.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/log.h"

namespace synod::server {

bool FaultInjection::Isolated(uint64_t peer) const {
  if (path_.empty()) return false;
  absl::MutexLock lock(&mu_);
  return isolated_.count(peer) > 0;
}

void FaultInjection::Poll() {
  if (path_.empty()) return;
  struct stat st {};
  int64_t mtime_ns = 0;
  int64_t size = 0;
  if (stat(path_.c_str(), &st) == 0) {
    mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    size = st.st_size;
  }
  if (mtime_ns == seen_mtime_ns_ && size == seen_size_) return;
  seen_mtime_ns_ = mtime_ns;
  seen_size_ = size;
  std::set<uint64_t> isolated;
  std::ifstream in(path_);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  for (char& c : s) {
    if (c == ',') c = ' ';
  }
  std::istringstream words(s);
  uint64_t id = 0;
  while (words >> id) isolated.insert(id);
  std::string list;
  for (uint64_t p : isolated) list += " " + std::to_string(p);
  base::Log("fault injection: isolated from peers:%s", list.empty() ? " (none)" : list.c_str());
  absl::MutexLock lock(&mu_);
  isolated_ = std::move(isolated);
}

}  // namespace synod::server
