// ZooKeeper's four-letter words on the client port: a connection whose
// first four bytes are one of them gets a text answer and is closed, as
// ZooKeeper 3.8 does (NIOServerCnxn.checkFourLetterWord), before any
// ConnectRequest. Synod answers ruok, srvr, stat, mntr, conf, envi, cons,
// wchs and isro in ZooKeeper's formats; a word not in the whitelist (and
// every other word ZooKeeper knows) gets ZooKeeper's "<word> is not
// executed because it is not in the whitelist." answer.
//
// The answers are made from a FourLetterInput the listener fills on its
// thread from counters and atomics (nothing here reads the store), and are
// bounded: stat and cons list at most kMaxListedConnections connections.
//
// Thread: none of its own; pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/zk/zk_metrics.h"

namespace synod::zk {

// The ZooKeeper version whose client protocol Synod speaks.
inline constexpr char kZkProtocolVersion[] = "3.8.4";
inline constexpr size_t kMaxListedConnections = 1000;

// Every word ZooKeeper 3.8 knows, if `first4` (a connection's first four
// bytes) is one; nullopt otherwise (the bytes are a frame length).
std::optional<std::string> FourLetterWordOf(absl::string_view first4);

// --zk_4lw_whitelist, as ZooKeeper's 4lw.commands.whitelist: words
// separated by commas (spaces around them ignored), "*" for every word
// Synod serves; srvr is always in it (zkServer.sh status needs it).
// InvalidArgument for a word Synod does not serve.
absl::StatusOr<absl::flat_hash_set<std::string>> ParseFourLetterWhitelist(absl::string_view flag);

// One client connection, as stat and cons show it.
struct ZkConnectionInfo {
  std::string remote;   // "/127.0.0.1:40123", as Java prints an address
  bool reading = true;  // ZooKeeper's interest ops: 1 (read) or 0
  uint64_t queued = 0;
  uint64_t received = 0;
  uint64_t sent = 0;
  uint64_t session_id = 0;  // 0: no session yet
  std::string last_op;
  int64_t established_ms = 0;  // Unix time
  int64_t timeout_ms = 0;
  int64_t last_cxid = -1;
  uint64_t last_zxid = 0;
  // Replies: when the last left (Unix ms), and latencies in ms (0 before
  // the first).
  int64_t last_response_ms = 0;
  int64_t last_latency_ms = 0;
  int64_t min_latency_ms = 0;
  int64_t avg_latency_ms = 0;
  int64_t max_latency_ms = 0;
};

struct FourLetterInput {
  std::string word;
  // This replica knows a leader (ZooKeeper: the server is running).
  bool serving = false;
  std::string mode;         // leader, follower or observer
  uint64_t zxid = 0;        // the applied revision
  int64_t node_count = -1;  // an estimate; -1: unknown
  int64_t global_sessions = 0;
  int64_t outstanding = 0;
  int64_t uptime_ms = 0;
  ZkMetrics::Snapshot stats;
  // stat and cons: at most kMaxListedConnections; `unlisted` more exist.
  std::vector<ZkConnectionInfo> connections;
  size_t unlisted = 0;
  // wchs: connections with a watch, distinct paths, watches.
  size_t watching_connections = 0;
  size_t watched_paths = 0;
  size_t watches = 0;
  // conf and envi: key=value lines.
  std::vector<std::pair<std::string, std::string>> conf;
  std::vector<std::pair<std::string, std::string>> env;
  std::string version;  // "3.8.4-synod-<version>"
};

// The answer to input.word, whitelisted or not.
std::string AnswerFourLetterWord(const FourLetterInput& input,
                                 const absl::flat_hash_set<std::string>& whitelist);

// The words that need the connection list filled in.
inline bool NeedsConnections(absl::string_view word) { return word == "stat" || word == "cons"; }

// envi's lines about this process and host (uname, user, directory).
std::vector<std::pair<std::string, std::string>> ProcessEnvironment();

}  // namespace synod::zk
