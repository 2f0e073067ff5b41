// MetricsHttpServer: a minimal HTTP/1.1 server on one thread for the
// operator endpoints (/metrics, /health, /ready).
//
// It answers GET and HEAD of the registered paths (a query string is
// ignored), 404 for other paths, 405 for other methods, 400 for a request
// it cannot parse; every response closes the connection. Connections are
// served one at a time: scrapes and probes are small and rare, and one
// thread keeps the endpoints from ever competing with the replica's own
// threads. A client that sends nothing is dropped after `io_timeout`, so a
// stuck client delays the next one by at most that long.
//
// Handlers run on the server thread and must not block for long (they
// read atomics and RocksDB properties).
//
// Thread: Start/Stop by the owner; handlers on the server thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

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
    absl::Duration io_timeout = absl::Seconds(2);
    size_t max_request_bytes = 16384;
  };

  // Binds, listens and starts the thread. Errors: InvalidArgument (not
  // host:port), Unavailable (cannot resolve or bind: address in use?).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(Options options);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The port it listens on.
  int port() const { return port_; }
  // Stops accepting, finishes the connection in progress, joins. Idempotent.
  void Stop();

 private:
  explicit MetricsHttpServer(Options options) : options_(std::move(options)) {}
  void Loop();
  void Serve(int fd);

  const Options options_;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};  // a byte on [1] wakes the loop to stop
  int port_ = 0;
  std::thread thread_;
};

}  // namespace synod::server::metrics
