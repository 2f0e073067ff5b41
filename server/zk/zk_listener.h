// ZkListener: ZooKeeper's client port (--zk_addr): accepts connections and
// moves their bytes with non-blocking sockets on one epoll thread of its
// own ("synod-zk"), however many connections there are.
//
// Promises:
//  - Frames are a 4-byte big-endian length and that many bytes. A length
//    below 0 or above max_frame_bytes closes that connection and nothing
//    else (ZooKeeper's jute.maxbuffer).
//  - Bounded per connection: while a connection has max_pending requests
//    whose replies are not written, or max_output_bytes waiting to be
//    written, it is not read (TCP then holds its client back).
//  - Bounded in connections, as ZooKeeper's maxClientCnxns: while one
//    client IP holds max_connections_per_ip connections, or the listener
//    holds max_connections in all, a new one is accepted and closed at once
//    (the client reads end of stream), counted (on_refused_*) and logged
//    as a warning at most once per 10 s per limit.
//  - A connection whose session disappears from the replicated table
//    (expired, closed from another replica) is closed, as ZooKeeper does.
//  - A connection whose first four bytes are a four-letter word
//    (four_letter_words.h) gets its answer, made on this thread from
//    counters and atomics, and is closed.
//
// Thread: Start and Stop from the owner; everything else on the listener
// thread, woken by completions through an eventfd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"

#include "absl/status/statusor.h"
#include "server/zk/zk_connection.h"

namespace synod::zk {

struct ZkListenerOptions {
  std::string addr;  // host:port; port 0 picks a free one (see port())
  // ZooKeeper's default jute.maxbuffer (1 MiB) plus room for the headers
  // and path of a request carrying that much data.
  size_t max_frame_bytes = (1u << 20) + 64 * 1024;
  size_t max_pending = 1000;
  size_t max_output_bytes = 4u << 20;
  size_t max_connections = 10000;
  // Connections one client IP may hold at once (ZooKeeper's maxClientCnxns,
  // whose default this is); 0: no limit. An IPv4-mapped IPv6 address counts
  // as its IPv4 address.
  size_t max_connections_per_ip = 60;
  // Called on the listener thread for each connection refused over
  // max_connections_per_ip / over max_connections (metrics); may be null.
  std::function<void()> on_refused_per_ip;
  std::function<void()> on_refused_total;
  // Four-letter words answered (ParseFourLetterWhitelist); the rest get
  // ZooKeeper's "not in the whitelist" answer.
  absl::flat_hash_set<std::string> four_letter_whitelist = {"srvr"};
  // Fills what the replica knows (serving, mode, zxid, node_count,
  // global_sessions) for a four-letter word; quick, never waits on the raft
  // or apply threads. May be null (then: not serving).
  std::function<void(FourLetterInput*)> describe;
  // conf's lines after clientPort, and Synod's version (srvr, envi, mntr).
  std::vector<std::pair<std::string, std::string>> conf;
  std::string version;
};

class ZkListener {
 public:
  // Errors: InvalidArgument (bad address), Unavailable (cannot bind),
  // Internal (epoll/eventfd).
  static absl::StatusOr<std::unique_ptr<ZkListener>> Start(const ZkListenerOptions& options,
                                                           ZkContext context);
  ~ZkListener();
  ZkListener(const ZkListener&) = delete;
  ZkListener& operator=(const ZkListener&) = delete;

  // Closes every connection and joins the thread. Idempotent.
  void Stop();
  int port() const { return port_; }

 private:
  struct Waker;
  struct Conn;
  ZkListener(const ZkListenerOptions& options, ZkContext context);
  void Run();
  void Accept();
  void OnReadable(Conn* c);
  void Flush(Conn* c);
  // Sets the epoll interest of `c` from its state (reading paused or not,
  // output waiting or not).
  void UpdateInterest(Conn* c);
  void CloseConn(uint64_t id);
  void CheckSessions();
  // The answer to a four-letter word.
  std::string AnswerWord(const std::string& word);

  const ZkListenerOptions options_;
  // The metrics when the context brings none.
  std::unique_ptr<ZkMetrics> own_metrics_;
  const ZkContext context_;
  const absl::Time started_ = absl::Now();
  // envi's lines, taken once.
  std::vector<std::pair<std::string, std::string>> environment_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int port_ = 0;
  std::shared_ptr<Waker> waker_;
  std::thread thread_;
  // Listener thread only.
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace synod::zk
