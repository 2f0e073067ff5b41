#include "server/zk/four_letter_words.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace synod::zk {
namespace {

// Every word ZooKeeper 3.8 knows (FourLetterCommands).
constexpr const char* kKnown[] = {"conf", "cons", "crst", "dirs", "dump", "envi",
                                  "gtmk", "hash", "isro", "mntr", "ruok", "srst",
                                  "srvr", "stat", "stmk", "wchc", "wchp", "wchs"};
// The ones Synod answers.
constexpr const char* kServed[] = {"ruok", "srvr", "stat", "mntr", "conf",
                                   "envi", "cons", "wchs", "isro"};

constexpr char kNotServing[] = "This ZooKeeper instance is not currently serving requests\n";

// ServerStats.toString, then the node count: srvr and stat end with it.
void AppendServerStats(const FourLetterInput& in, std::string* out) {
  const ZkMetrics::Snapshot& s = in.stats;
  absl::StrAppend(out, "Latency min/avg/max: ", s.min_latency_ms, "/",
                  absl::StrFormat("%.4f", s.avg_latency_ms), "/", s.max_latency_ms, "\n");
  absl::StrAppend(out, "Received: ", s.packets_received, "\n");
  absl::StrAppend(out, "Sent: ", s.packets_sent, "\n");
  absl::StrAppend(out, "Connections: ", s.connections, "\n");
  absl::StrAppend(out, "Outstanding: ", in.outstanding, "\n");
  absl::StrAppend(out, "Zxid: 0x", absl::Hex(in.zxid), "\n");
  absl::StrAppend(out, "Mode: ", in.mode, "\n");
  absl::StrAppend(out, "Node count: ", in.node_count, "\n");
}

// ServerCnxn.dumpConnectionInfo.
void AppendConnection(const ZkConnectionInfo& c, bool brief, std::string* out) {
  absl::StrAppend(out, " ", c.remote, "[", c.reading ? "1" : "0", "](queued=", c.queued,
                  ",recved=", c.received, ",sent=", c.sent);
  if (!brief && c.session_id != 0) {
    absl::StrAppend(out, ",sid=0x", absl::Hex(c.session_id), ",lop=", c.last_op,
                    ",est=", c.established_ms, ",to=", c.timeout_ms);
    if (c.last_cxid >= 0) absl::StrAppend(out, ",lcxid=0x", absl::Hex(c.last_cxid));
    absl::StrAppend(out, ",lzxid=0x", absl::Hex(c.last_zxid), ",lresp=", c.last_response_ms,
                    ",llat=", c.last_latency_ms, ",minlat=", c.min_latency_ms,
                    ",avglat=", c.avg_latency_ms, ",maxlat=", c.max_latency_ms);
  }
  absl::StrAppend(out, ")\n");
}

void AppendConnections(const FourLetterInput& in, bool brief, std::string* out) {
  for (const ZkConnectionInfo& c : in.connections) AppendConnection(c, brief, out);
  if (in.unlisted > 0) absl::StrAppend(out, " (", in.unlisted, " more connections not listed)\n");
}

void AppendLines(const std::vector<std::pair<std::string, std::string>>& lines, std::string* out) {
  for (const auto& [key, value] : lines) absl::StrAppend(out, key, "=", value, "\n");
}

void AppendMonitor(const FourLetterInput& in, std::string* out) {
  const ZkMetrics::Snapshot& s = in.stats;
  auto line = [out](absl::string_view key, const auto& value) {
    absl::StrAppend(out, "zk_", key, "\t", value, "\n");
  };
  line("version", in.version);
  line("server_state", in.mode);
  line("avg_latency", absl::StrFormat("%.4f", s.avg_latency_ms));
  line("max_latency", s.max_latency_ms);
  line("min_latency", s.min_latency_ms);
  line("packets_received", s.packets_received);
  line("packets_sent", s.packets_sent);
  line("num_alive_connections", s.connections);
  line("outstanding_requests", in.outstanding);
  line("znode_count", in.node_count);
  line("watch_count", in.watches);
  line("global_sessions", in.global_sessions);
  line("uptime", in.uptime_ms);
  line("bytes_received", s.bytes_received);
  line("bytes_sent", s.bytes_sent);
}

}  // namespace

std::optional<std::string> FourLetterWordOf(absl::string_view first4) {
  if (first4.size() != 4) return std::nullopt;
  for (const char* word : kKnown) {
    if (first4 == word) return std::string(word);
  }
  return std::nullopt;
}

absl::StatusOr<absl::flat_hash_set<std::string>> ParseFourLetterWhitelist(absl::string_view flag) {
  absl::flat_hash_set<std::string> words = {"srvr"};
  for (absl::string_view part : absl::StrSplit(flag, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) continue;
    if (part == "*") {
      for (const char* w : kServed) words.insert(w);
      continue;
    }
    bool served = false;
    for (const char* w : kServed) served = served || part == w;
    if (!served) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--zk_4lw_whitelist: \"", part,
          "\" is not a four-letter word Synod answers (ruok, srvr, stat, mntr, conf, envi, cons, "
          "wchs, isro, or *)"));
    }
    words.insert(std::string(part));
  }
  return words;
}

std::string AnswerFourLetterWord(const FourLetterInput& in,
                                 const absl::flat_hash_set<std::string>& whitelist) {
  const std::string& w = in.word;
  if (!whitelist.contains(w)) {
    return absl::StrCat(w, " is not executed because it is not in the whitelist.\n");
  }
  std::string out;
  if (w == "ruok") return "imok";
  if (w == "isro") return in.serving ? "rw" : "null";
  if (w == "envi") {
    out = "Environment:\n";
    absl::StrAppend(&out, "zookeeper.version=", in.version, "\n");
    AppendLines(in.env, &out);
    return out;
  }
  if (!in.serving) return kNotServing;
  if (w == "srvr" || w == "stat") {
    absl::StrAppend(&out, "Zookeeper version: ", in.version, "\n");
    if (w == "stat") {
      out += "Clients:\n";
      AppendConnections(in, /*brief=*/true, &out);
      out += "\n";
    }
    AppendServerStats(in, &out);
  } else if (w == "cons") {
    AppendConnections(in, /*brief=*/false, &out);
    out += "\n";
  } else if (w == "mntr") {
    AppendMonitor(in, &out);
  } else if (w == "conf") {
    AppendLines(in.conf, &out);
  } else if (w == "wchs") {
    absl::StrAppend(&out, in.watching_connections, " connections watching ", in.watched_paths,
                    " paths\nTotal watches:", in.watches, "\n");
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ProcessEnvironment() {
  std::vector<std::pair<std::string, std::string>> env;
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0) env.emplace_back("host.name", host);
  utsname u{};
  if (uname(&u) == 0) {
    env.emplace_back("os.name", u.sysname);
    env.emplace_back("os.arch", u.machine);
    env.emplace_back("os.version", u.release);
  }
  if (const char* user = std::getenv("USER"); user != nullptr) env.emplace_back("user.name", user);
  if (const char* home = std::getenv("HOME"); home != nullptr) env.emplace_back("user.home", home);
  char cwd[4096] = {0};
  if (getcwd(cwd, sizeof(cwd) - 1) != nullptr) env.emplace_back("user.dir", cwd);
  env.emplace_back("process.id", absl::StrCat(getpid()));
  return env;
}

}  // namespace synod::zk
