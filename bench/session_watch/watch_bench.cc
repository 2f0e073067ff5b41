// watch_bench: figures for watches and sessions on a running Synod cluster
// (prints them; not a test).
//
// --mode=fanout: one writer, --watchers persistent watches on one node,
// spread round-robin over --streams_per_replica Watch streams on each
// replica (many watches per stream: each watch still gets its own
// WatchResponse per event). The writer sets the node --writes times, one at
// a time, to the leader; after each acknowledgement it waits until every
// watcher has the event (or --event_timeout_ms). Latency of one delivery =
// the watcher's receipt minus the writer's acknowledgement, both on this
// process's steady clock; a watcher on the leader can see the event before
// the writer's reply arrives, so a latency may be negative (shown as is).
//
// --mode=churn: --churn_loops loops, each repeating for --churn_seconds:
// Session.Open, Create of an ephemeral node with the session (sequence 1),
// Session.Close; loop i uses replica i mod N. Prints sessions/s and the
// latency of one open-create-close cycle.
//
// Start a cluster first, e.g. on ports of your choice (one shell line):
//   SYNOD_BUILD_DIR=build SYNOD_CLUSTER_DIR=/tmp/wb SYNOD_CLIENT_PORT_BASE=17400
//   SYNOD_PEER_PORT_BASE=17500 SYNOD_METRICS_PORT_BASE=17600 deploy/cluster.sh start 3
// then
//   build/bench/session_watch/watch_bench
//   --endpoints=127.0.0.1:17401,127.0.0.1:17402,127.0.0.1:17403
// (deploy/cluster.sh stop / wipe with the same environment afterwards.)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "synod/v1/session.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"
#include "synod/v1/watch.grpc.pb.h"

ABSL_FLAG(std::string, endpoints, "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003",
          "Client addresses of the replicas, comma-separated.");
ABSL_FLAG(std::string, mode, "both", "fanout | churn | both");
ABSL_FLAG(int, watchers, 1000, "fanout: persistent watches on the written node.");
ABSL_FLAG(int, streams_per_replica, 4, "fanout: Watch streams per replica.");
ABSL_FLAG(int, writes, 200, "fanout: sets of the watched node (one at a time).");
ABSL_FLAG(int, event_timeout_ms, 10000, "fanout: longest wait for one write's events.");
ABSL_FLAG(int, churn_loops, 8, "churn: concurrent open-create-close loops.");
ABSL_FLAG(double, churn_seconds, 10, "churn: seconds each loop runs.");
ABSL_FLAG(int, session_timeout_ms, 4000, "churn: requested session timeout.");

namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(10)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Percentile of sorted values (nearest rank).
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()));
  return sorted[std::min(rank, sorted.size() - 1)];
}

void PrintLatencies(const char* what, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  std::printf("%s: n=%zu min=%.2f p50=%.2f p90=%.2f p99=%.2f max=%.2f ms\n", what, ms.size(),
              ms.empty() ? 0 : ms.front(), Percentile(ms, 50), Percentile(ms, 90),
              Percentile(ms, 99), ms.empty() ? 0 : ms.back());
}

struct Cluster {
  std::vector<std::string> endpoints;
  // One channel per replica, alive for the whole run (gRPC 1.51 must not
  // lose its last channel and then make another).
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  int leader = -1;  // index into endpoints
};

bool FindLeader(Cluster* c) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    for (size_t i = 0; i < c->channels.size(); ++i) {
      auto stub = synod::v1::Cluster::NewStub(c->channels[i]);
      synod::v1::StatusResponse status;
      if (!stub->Status(Ctx(absl::Seconds(2)).get(), synod::v1::StatusRequest(), &status).ok()) {
        continue;
      }
      if (status.header().leader_id() != 0 &&
          status.header().leader_id() == status.header().member_id()) {
        c->leader = static_cast<int>(i);
        return true;
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

// One Watch stream: a reader thread stamps the receipt of every event by
// (watch id, revision).
class Stream {
 public:
  explicit Stream(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(synod::v1::Watch::NewStub(channel)) {
    stream_ = stub_->Watch(&context_);
    reader_ = std::thread([this] { Read(); });
  }
  ~Stream() {
    context_.TryCancel();
    reader_.join();
    stream_->Finish().IgnoreError();  // canceled on purpose
  }

  bool Create(uint64_t id, const std::string& path) {
    synod::v1::WatchRequest req;
    req.mutable_create()->set_watch_id(id);
    req.mutable_create()->set_path(path);
    req.mutable_create()->set_kind(synod::v1::WATCH_PERSISTENT);
    return stream_->Write(req);
  }
  size_t created() {
    absl::MutexLock lock(&mu_);
    return created_;
  }
  // Receipts of `revision` so far.
  size_t Count(uint64_t revision) {
    absl::MutexLock lock(&mu_);
    auto it = receipts_.find(revision);
    return it == receipts_.end() ? 0 : it->second.size();
  }
  std::vector<Clock::time_point> Receipts(uint64_t revision) {
    absl::MutexLock lock(&mu_);
    return receipts_[revision];
  }
  size_t canceled() {
    absl::MutexLock lock(&mu_);
    return canceled_;
  }

 private:
  void Read() {
    synod::v1::WatchResponse resp;
    while (stream_->Read(&resp)) {
      const Clock::time_point now = Clock::now();
      absl::MutexLock lock(&mu_);
      if (resp.created()) ++created_;
      if (resp.canceled()) ++canceled_;
      for (const synod::v1::WatchEvent& e : resp.events()) receipts_[e.revision()].push_back(now);
    }
  }

  std::unique_ptr<synod::v1::Watch::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<synod::v1::WatchRequest, synod::v1::WatchResponse>>
      stream_;
  absl::Mutex mu_;
  size_t created_ ABSL_GUARDED_BY(mu_) = 0;
  size_t canceled_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::vector<Clock::time_point>> receipts_ ABSL_GUARDED_BY(mu_);
  std::thread reader_;
};

bool EnsureNode(synod::v1::Tree::Stub* tree, const std::string& path) {
  synod::v1::CreateRequest req;
  req.mutable_op()->set_path(path);
  synod::v1::CreateResponse resp;
  grpc::Status s = tree->Create(Ctx().get(), req, &resp);
  return s.ok() || s.error_code() == grpc::StatusCode::ALREADY_EXISTS;
}

int Fanout(Cluster& c) {
  const int watchers = absl::GetFlag(FLAGS_watchers);
  const int per_replica = absl::GetFlag(FLAGS_streams_per_replica);
  const int writes = absl::GetFlag(FLAGS_writes);
  const absl::Duration event_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_event_timeout_ms));
  auto tree = synod::v1::Tree::NewStub(c.channels[c.leader]);
  if (!EnsureNode(tree.get(), "/bench-watch")) {
    std::fprintf(stderr, "cannot create /bench-watch\n");
    return 1;
  }
  std::vector<std::unique_ptr<Stream>> streams;
  for (auto& channel : c.channels) {
    for (int k = 0; k < per_replica; ++k) streams.push_back(std::make_unique<Stream>(channel));
  }
  std::vector<size_t> per_stream(streams.size(), 0);
  for (int i = 0; i < watchers; ++i) {
    const size_t s = static_cast<size_t>(i) % streams.size();
    if (!streams[s]->Create(static_cast<uint64_t>(i) + 1, "/bench-watch")) {
      std::fprintf(stderr, "watch stream %zu broke\n", s);
      return 1;
    }
    ++per_stream[s];
  }
  const absl::Time setup_deadline = absl::Now() + absl::Seconds(30);
  for (size_t s = 0; s < streams.size(); ++s) {
    while (streams[s]->created() < per_stream[s]) {
      if (absl::Now() > setup_deadline) {
        std::fprintf(stderr, "watches not acknowledged in 30 s\n");
        return 1;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  std::printf(
      "fanout: %d persistent watches on %zu streams (%d per replica, %zu replicas), "
      "writer on the leader (%s), %d writes\n",
      watchers, streams.size(), per_replica, c.channels.size(), c.endpoints[c.leader].c_str(),
      writes);

  std::vector<double> latencies;
  std::vector<double> ack_ms;
  latencies.reserve(static_cast<size_t>(watchers) * writes);
  int incomplete = 0;
  const Clock::time_point start = Clock::now();
  for (int w = 0; w < writes; ++w) {
    synod::v1::SetRequest req;
    req.mutable_op()->set_path("/bench-watch");
    req.mutable_op()->set_data(absl::StrCat(w));
    synod::v1::SetResponse resp;
    const Clock::time_point sent = Clock::now();
    grpc::Status s = tree->Set(Ctx().get(), req, &resp);
    const Clock::time_point acked = Clock::now();
    if (!s.ok()) {
      std::fprintf(stderr, "set failed: %s\n", s.error_message().c_str());
      return 1;
    }
    ack_ms.push_back(Ms(acked - sent));
    const uint64_t revision = resp.stat().mzxid();
    const absl::Time deadline = absl::Now() + event_timeout;
    bool complete = false;
    while (!complete && absl::Now() < deadline) {
      size_t got = 0;
      for (auto& stream : streams) got += stream->Count(revision);
      complete = got >= static_cast<size_t>(watchers);
      if (!complete) std::this_thread::yield();
    }
    if (!complete) ++incomplete;
    for (auto& stream : streams) {
      for (const Clock::time_point t : stream->Receipts(revision)) {
        latencies.push_back(Ms(t - acked));
      }
    }
  }
  const double seconds = Ms(Clock::now() - start) / 1000.0;
  size_t canceled = 0;
  for (auto& stream : streams) canceled += stream->canceled();
  std::printf(
      "fanout: %zu deliveries in %.2f s (%.0f events/s), %d writes not fully delivered "
      "within %s, %zu watches canceled\n",
      latencies.size(), seconds, static_cast<double>(latencies.size()) / seconds, incomplete,
      absl::FormatDuration(event_timeout).c_str(), canceled);
  PrintLatencies("fanout: writer ack (set round trip)", ack_ms);
  PrintLatencies("fanout: event latency after the writer's ack", latencies);
  return incomplete == 0 && canceled == 0 ? 0 : 1;
}

int Churn(Cluster& c) {
  const int loops = absl::GetFlag(FLAGS_churn_loops);
  const absl::Duration run = absl::Seconds(absl::GetFlag(FLAGS_churn_seconds));
  const int64_t timeout_ms = absl::GetFlag(FLAGS_session_timeout_ms);
  {
    auto tree = synod::v1::Tree::NewStub(c.channels[c.leader]);
    if (!EnsureNode(tree.get(), "/bench-churn")) {
      std::fprintf(stderr, "cannot create /bench-churn\n");
      return 1;
    }
  }
  std::atomic<int> errors{0};
  absl::Mutex mu;
  std::vector<double> cycles;
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (int l = 0; l < loops; ++l) {
    threads.emplace_back([&, l] {
      auto channel = c.channels[static_cast<size_t>(l) % c.channels.size()];
      auto sessions = synod::v1::Session::NewStub(channel);
      auto tree = synod::v1::Tree::NewStub(channel);
      std::vector<double> mine;
      const absl::Time until = absl::Now() + run;
      for (int i = 0; absl::Now() < until; ++i) {
        const Clock::time_point t0 = Clock::now();
        synod::v1::OpenSessionRequest open;
        open.set_timeout_ms(timeout_ms);
        synod::v1::OpenSessionResponse opened;
        if (!sessions->Open(Ctx().get(), open, &opened).ok()) {
          ++errors;
          continue;
        }
        synod::v1::CreateRequest create;
        create.mutable_op()->set_path(absl::StrCat("/bench-churn/", l, "-", i));
        create.mutable_op()->set_mode(synod::v1::EPHEMERAL);
        create.mutable_write()->set_session_id(opened.session_id());
        create.mutable_write()->set_sequence(1);
        synod::v1::CreateResponse created;
        if (!tree->Create(Ctx().get(), create, &created).ok()) ++errors;
        synod::v1::CloseSessionRequest close;
        close.set_session_id(opened.session_id());
        close.set_secret(opened.secret());
        synod::v1::CloseSessionResponse closed;
        if (!sessions->Close(Ctx().get(), close, &closed).ok()) {
          ++errors;
          continue;
        }
        mine.push_back(Ms(Clock::now() - t0));
      }
      absl::MutexLock lock(&mu);
      cycles.insert(cycles.end(), mine.begin(), mine.end());
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = Ms(Clock::now() - start) / 1000.0;
  std::printf(
      "churn: %d loops over %zu replicas, %.1f s: %zu sessions opened, used and closed "
      "(%.0f sessions/s), %d errors\n",
      loops, c.channels.size(), seconds, cycles.size(),
      static_cast<double>(cycles.size()) / seconds, errors.load());
  PrintLatencies("churn: open + create ephemeral + close", cycles);
  // Every session was closed, so none of its ephemerals may be left.
  auto tree = synod::v1::Tree::NewStub(c.channels[c.leader]);
  synod::v1::ExistsRequest exists;
  exists.set_path("/bench-churn");
  synod::v1::ExistsResponse parent;
  if (!tree->Exists(Ctx().get(), exists, &parent).ok()) {
    std::fprintf(stderr, "cannot read /bench-churn\n");
    return 1;
  }
  std::printf("churn: ephemerals left under /bench-churn: %lld\n",
              static_cast<long long>(parent.stat().num_children()));
  return errors == 0 && parent.stat().num_children() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("watch fan-out latency and session churn on a running cluster");
  absl::ParseCommandLine(argc, argv);
  Cluster c;
  c.endpoints = absl::StrSplit(absl::GetFlag(FLAGS_endpoints), ',', absl::SkipEmpty());
  for (const std::string& e : c.endpoints) {
    c.channels.push_back(grpc::CreateChannel(e, grpc::InsecureChannelCredentials()));
  }
  if (c.endpoints.empty() || !FindLeader(&c)) {
    std::fprintf(stderr, "no leader among --endpoints\n");
    return 1;
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  int rc = 0;
  if (mode == "fanout" || mode == "both") rc |= Fanout(c);
  if (mode == "churn" || mode == "both") rc |= Churn(c);
  if (mode != "fanout" && mode != "churn" && mode != "both") {
    std::fprintf(stderr, "--mode must be fanout, churn or both\n");
    return 2;
  }
  return rc;
}
