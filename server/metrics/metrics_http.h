// MetricsHttpServer: the operator endpoints (/metrics, /health, /ready)
// over HTTP/1.1, served by cpp-httplib.
//
// It answers GET and HEAD of the registered paths (a query string is
// ignored), 404 for other paths, 405 for other methods, 400 for a request
// it cannot parse; every response closes the connection.
//
// Connections are served by a fixed pool of `threads` threads, so a client
// that connects and sends nothing, or does not read its answer, holds one
// thread (for at most `io_timeout` per read or write), never the others: a
// scrape and a probe are answered meanwhile. Threads are bounded, and so is
// the queue in front of them (`threads` accepted connections): beyond
// that, connections wait in the kernel's listen backlog.
//
// Handlers run on the pool's threads, possibly at the same time, and must
// not block for long (they read atomics and RocksDB properties).
//
// Thread: Start/Stop by the owner; an accept thread and `threads` workers,
// all named synod-metrics.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace synod::server::metrics {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class MetricsHttpServer {
 public:
  using Handler = std::function<HttpResponse()>;
  struct Options {
    // host:port; [v6]:port; port 0 picks a free one (see port()). An empty
    // host listens on every interface.
    std::string addr;
    std::map<std::string, Handler> handlers;  // by exact path, e.g. "/metrics"
    // Longest wait for a client's next bytes, or for room to send it more.
    absl::Duration io_timeout = absl::Seconds(2);
    // Connections served at once (scrapes, probes, and stuck clients).
    size_t threads = 4;
  };

  // Binds, listens and starts the threads. Errors: InvalidArgument (not
  // host:port, or threads == 0), Unavailable (cannot resolve or bind:
  // address in use?).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(Options options);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The port it listens on.
  int port() const { return port_; }
  // Stops accepting (the port refuses from here on), lets the connections
  // in progress finish (each within io_timeout), joins. Idempotent.
  void Stop();

 private:
  MetricsHttpServer();

  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::atomic<bool> listen_returned_{false};
  std::thread thread_;
};

}  // namespace synod::server::metrics
