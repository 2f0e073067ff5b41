#include "server/cluster_config.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace synod::server {
namespace {

bool ValidHostPort(absl::string_view addr) {
  const size_t colon = addr.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  int port = 0;
  return absl::SimpleAtoi(addr.substr(colon + 1), &port) && port > 0 && port < 65536;
}

}  // namespace

uint64_t StableHash64(absl::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

absl::StatusOr<InitialCluster> ParseInitialCluster(absl::string_view spec) {
  InitialCluster out;
  std::set<uint64_t> ids;
  std::set<std::string> addrs;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    std::vector<absl::string_view> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    uint64_t id = 0;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[0], &id) || id == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--initial_cluster entry '", entry,
                                                     "': expected id=host:port with id >= 1"));
    }
    std::vector<absl::string_view> parts = absl::StrSplit(kv[1], absl::MaxSplits('/', 1));
    v1::Member m;
    m.set_id(id);
    m.set_peer_addr(std::string(parts[0]));
    if (parts.size() == 2) m.set_client_addr(std::string(parts[1]));
    if (!ValidHostPort(m.peer_addr()) ||
        (!m.client_addr().empty() && !ValidHostPort(m.client_addr()))) {
      return absl::InvalidArgumentError(
          absl::StrCat("--initial_cluster entry '", entry, "': bad host:port"));
    }
    if (!ids.insert(id).second) {
      return absl::InvalidArgumentError(absl::StrCat("--initial_cluster: id ", id, " twice"));
    }
    if (!addrs.insert(m.peer_addr()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--initial_cluster: peer address ", m.peer_addr(), " twice"));
    }
    out.members.push_back(std::move(m));
  }
  if (out.members.empty()) return absl::InvalidArgumentError("--initial_cluster is empty");
  std::sort(out.members.begin(), out.members.end(),
            [](const v1::Member& a, const v1::Member& b) { return a.id() < b.id(); });
  std::string canonical;
  for (const v1::Member& m : out.members)
    absl::StrAppend(&canonical, m.id(), "=", m.peer_addr(), ",");
  out.cluster_id = StableHash64(canonical);
  if (out.cluster_id == 0) out.cluster_id = 1;  // 0 means "unknown" on the wire
  return out;
}

}  // namespace synod::server
