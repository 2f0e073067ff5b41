#include "server/metrics/metrics_http.h"

#include <fcntl.h>
#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <deque>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/log.h"
#include "server/tcp_socket.h"

namespace synod::server::metrics {
namespace {

constexpr char kThreadName[] = "synod-metrics";

// httplib's task queue for the server: `threads` named workers and at most
// `threads` connections waiting for one. enqueue() blocks while the queue
// is full, so the accept thread stops accepting and further connections
// wait in the kernel's backlog (httplib's own ThreadPool queues without
// bound).
//
// Thread: enqueue and shutdown on httplib's accept thread; tasks on the
// workers.
class BoundedPool : public httplib::TaskQueue {
 public:
  explicit BoundedPool(size_t threads) : max_queued_(threads) {
    for (size_t i = 0; i < threads; ++i) {
      workers_.emplace_back([this] {
        base::NameThread(kThreadName);
        Work();
      });
    }
  }
  ~BoundedPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &BoundedPool::HasRoom));
    queue_.push_back(std::move(fn));
  }

  // Runs what is queued, then joins the workers.
  void shutdown() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& t : workers_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.size() < max_queued_; }
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stopping_;
  }

  void Work() {
    while (true) {
      std::function<void()> fn;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &BoundedPool::HasWorkOrStopping));
        if (queue_.empty()) return;  // stopping, nothing left
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();  // serves one connection and closes it
    }
  }

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

std::string DefaultBody(int status) {
  switch (status) {
    case 400:
      return "bad request\n";
    case 404:
      return "not found\n";
    default:
      return absl::StrCat(status, "\n");
  }
}

}  // namespace

MetricsHttpServer::MetricsHttpServer() : http_(std::make_unique<httplib::Server>()) {}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(Options options) {
  std::string host, port_text;
  if (absl::Status s = SplitHostPort(options.addr, &host, &port_text); !s.ok()) return s;
  int port = 0;
  if (!absl::SimpleAtoi(port_text, &port)) {
    return absl::InvalidArgumentError(absl::StrCat("'", options.addr, "': bad port"));
  }
  if (options.threads == 0) return absl::InvalidArgumentError("metrics server: threads is 0");

  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer());
  httplib::Server& http = *server->http_;
  for (const auto& [path, handler] : options.handlers) {
    http.Get(path, [handler = handler](const httplib::Request&, httplib::Response& res) {
      HttpResponse r = handler();
      res.status = r.status;
      res.set_content(std::move(r.body), r.content_type.c_str());
    });
  }
  // httplib answers HEAD from the GET handler, without the body.
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET" || req.method == "HEAD")
      return httplib::Server::HandlerResponse::Unhandled;
    res.status = 405;
    res.set_content("only GET and HEAD\n", "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) res.set_content(DefaultBody(res.status), "text/plain; charset=utf-8");
  });
  // One request per connection: a scraper reconnects, and no idle
  // connection keeps a thread.
  http.set_keep_alive_max_count(1);
  const auto io = absl::ToChronoMicroseconds(options.io_timeout);
  http.set_read_timeout(io);
  http.set_write_timeout(io);
  // The wait for the first byte of the request (whole seconds).
  http.set_keep_alive_timeout(std::max<time_t>(
      1, static_cast<time_t>(
             absl::ToInt64Seconds(options.io_timeout + absl::Seconds(1) - absl::Nanoseconds(1)))));
  // SO_REUSEADDR but not httplib's default SO_REUSEPORT: a second replica
  // on the same port must fail to bind. Not inherited by child processes.
  http.set_socket_options([](socket_t fd) {
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  });
  const size_t threads = options.threads;
  http.new_task_queue = [threads] { return new BoundedPool(threads); };

  // An empty host listens on every interface.
  const std::string bind_host = host.empty() ? "0.0.0.0" : host;
  if (port == 0) {
    server->port_ = http.bind_to_any_port(bind_host);
  } else if (http.bind_to_port(bind_host, port)) {
    server->port_ = port;
  } else {
    server->port_ = -1;
  }
  if (server->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics address ", options.addr, ": cannot listen (address in use?)"));
  }
  MetricsHttpServer* self = server.get();
  server->thread_ = std::thread([self] {
    base::NameThread(kThreadName);
    if (!self->http_->listen_after_bind()) {
      base::Log(base::LogLevel::kError, "metrics server: stopped accepting connections");
    }
    self->listen_returned_ = true;
  });
  // httplib's stop() only acts once the accept loop runs.
  while (!http.is_running() && !server->listen_returned_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return server;
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (!thread_.joinable()) return;
  http_->stop();
  thread_.join();
}

}  // namespace synod::server::metrics
