// synod_load: a simple load generator for a running Synod cluster.
//
// It opens --clients gRPC connections spread over --endpoints, keeps
// --inflight requests outstanding on each (asynchronous callback API: no
// thread per request), runs for --duration_s after a --warmup_s, and prints
// acknowledged operations per second and latency percentiles.
//
// Workloads: --op=set (Set of --value_bytes random bytes on one of --keys
// nodes under /bench, created first), --op=create (a new node per op),
// --op=get (linearizable Get), --op=get_serializable.
//
// Examples (deploy/cluster.sh start 3 first):
//   synod_load --clients=16 --inflight=64            # 3 replicas, 1024 in flight
//   synod_load --to_leader --clients=1 --inflight=1  # latency of one writer
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
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
#include "synod/v1/tree.grpc.pb.h"

ABSL_FLAG(std::string, endpoints, "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003",
          "Client addresses of the replicas, comma-separated.");
ABSL_FLAG(bool, to_leader, false, "Send everything to the current leader only.");
ABSL_FLAG(int, clients, 16, "Connections (each its own TCP connection).");
ABSL_FLAG(int, inflight, 64, "Outstanding requests per connection.");
ABSL_FLAG(double, duration_s, 10, "Measured seconds.");
ABSL_FLAG(double, warmup_s, 2, "Seconds of load before measuring.");
ABSL_FLAG(int, value_bytes, 256, "Bytes of data per set/create.");
ABSL_FLAG(int, keys, 1000, "Nodes the set/get workloads spread over.");
ABSL_FLAG(std::string, op, "set", "set | create | get | get_serializable");
ABSL_FLAG(int, timeout_ms, 5000, "Deadline per request.");

namespace {

using Clock = std::chrono::steady_clock;

struct Shared {
  std::string op;
  std::string value;
  int keys = 0;
  absl::Duration timeout;
  std::atomic<bool> stop{false};
  std::atomic<bool> measuring{false};
  std::atomic<uint64_t> created{0};
};

// One connection and its outstanding requests. Callbacks run on gRPC's
// threads; each completion records its latency and issues the next request.
class Client {
 public:
  Client(Shared* shared, const std::string& endpoint, int index)
      : shared_(shared), rng_(index * 7919 + 1) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // own TCP connection
    args.SetInt("synod.load.client", index);             // distinct channel per client
    channel_ = grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
    stub_ = synod::v1::Tree::NewStub(channel_);
    latencies_.reserve(1 << 20);
  }

  void Start(int inflight) {
    for (int i = 0; i < inflight; ++i) Issue();
  }

  void WaitIdle() {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return outstanding_ == 0; };
    mu_.Await(absl::Condition(&idle));
  }

  std::vector<double> TakeLatencies() {
    absl::MutexLock lock(&mu_);
    return std::move(latencies_);
  }
  uint64_t errors() const { return errors_.load(); }
  uint64_t ok() const { return ok_.load(); }

 private:
  struct Call {
    grpc::ClientContext ctx;
    Clock::time_point start;
    synod::v1::SetRequest set_req;
    synod::v1::SetResponse set_resp;
    synod::v1::CreateRequest create_req;
    synod::v1::CreateResponse create_resp;
    synod::v1::GetRequest get_req;
    synod::v1::GetResponse get_resp;
  };

  std::string Key() {
    std::uniform_int_distribution<int> d(0, shared_->keys - 1);
    return absl::StrCat("/bench/k", d(rng_));
  }

  void Issue() {
    if (shared_->stop.load()) return;
    {
      absl::MutexLock lock(&mu_);
      ++outstanding_;
    }
    auto* call = new Call();
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + shared_->timeout));
    call->start = Clock::now();
    auto done = [this, call](grpc::Status status) { Done(call, status); };
    const std::string& op = shared_->op;
    if (op == "set") {
      std::string key;
      {
        absl::MutexLock lock(&mu_);
        key = Key();
      }
      call->set_req.mutable_op()->set_path(key);
      call->set_req.mutable_op()->set_data(shared_->value);
      stub_->async()->Set(&call->ctx, &call->set_req, &call->set_resp, done);
    } else if (op == "create") {
      call->create_req.mutable_op()->set_path(
          absl::StrCat("/bench/c", shared_->created.fetch_add(1)));
      call->create_req.mutable_op()->set_data(shared_->value);
      stub_->async()->Create(&call->ctx, &call->create_req, &call->create_resp, done);
    } else {
      {
        absl::MutexLock lock(&mu_);
        call->get_req.set_path(Key());
      }
      if (op == "get_serializable") {
        call->get_req.mutable_read()->set_consistency(synod::v1::SERIALIZABLE);
      }
      stub_->async()->Get(&call->ctx, &call->get_req, &call->get_resp, done);
    }
  }

  void Done(Call* call, const grpc::Status& status) {
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - call->start).count();
    delete call;
    if (shared_->measuring.load()) {
      if (status.ok()) {
        ok_++;
        absl::MutexLock lock(&mu_);
        latencies_.push_back(us);
      } else {
        errors_++;
        if (errors_.load() <= 5) {
          std::fprintf(stderr, "error: %s\n", status.error_message().c_str());
        }
      }
    }
    Issue();
    absl::MutexLock lock(&mu_);
    --outstanding_;
  }

  Shared* const shared_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<synod::v1::Tree::Stub> stub_;
  absl::Mutex mu_;
  std::mt19937 rng_ ABSL_GUARDED_BY(mu_);
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<double> latencies_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> errors_{0};
};

std::string FindLeader(const std::vector<std::string>& endpoints) {
  for (const std::string& e : endpoints) {
    auto stub =
        synod::v1::Cluster::NewStub(grpc::CreateChannel(e, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    synod::v1::StatusResponse st;
    if (!stub->Status(&ctx, synod::v1::StatusRequest(), &st).ok()) continue;
    for (const auto& m : st.members()) {
      if (m.member().id() == st.leader_id() && !m.member().client_addr().empty()) {
        return m.member().client_addr();
      }
    }
  }
  return "";
}

bool Setup(const std::string& endpoint, int keys, const std::string& value) {
  auto stub =
      synod::v1::Tree::NewStub(grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  auto create = [&](const std::string& path) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    synod::v1::CreateRequest req;
    req.mutable_op()->set_path(path);
    req.mutable_op()->set_data(value);
    synod::v1::CreateResponse resp;
    grpc::Status s = stub->Create(&ctx, req, &resp);
    return s.ok() || s.error_code() == grpc::StatusCode::ALREADY_EXISTS;
  };
  if (!create("/bench")) return false;
  for (int i = 0; i < keys; ++i) {
    if (!create(absl::StrCat("/bench/k", i))) return false;
  }
  return true;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p * (sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("synod_load: load generator for a running Synod cluster");
  absl::ParseCommandLine(argc, argv);
  // The load generator shares the cores with the replicas it measures:
  // spare it Debian abseil's per-lock deadlock detection (gRPC's locks are
  // absl::Mutex too), as the server does.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> endpoints =
      absl::StrSplit(absl::GetFlag(FLAGS_endpoints), ',', absl::SkipEmpty());
  if (endpoints.empty()) {
    std::fprintf(stderr, "no --endpoints\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_to_leader)) {
    const std::string leader = FindLeader(endpoints);
    if (leader.empty()) {
      std::fprintf(stderr, "no leader found (or it has no client address)\n");
      return 1;
    }
    endpoints = {leader};
  }
  Shared shared;
  shared.op = absl::GetFlag(FLAGS_op);
  shared.keys = std::max(1, absl::GetFlag(FLAGS_keys));
  shared.timeout = absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
  std::mt19937 rng(42);
  shared.value.resize(absl::GetFlag(FLAGS_value_bytes));
  for (char& c : shared.value) c = static_cast<char>('a' + rng() % 26);
  if (!Setup(endpoints[0], shared.op == "create" ? 0 : shared.keys, shared.value)) {
    std::fprintf(stderr, "setup failed (is the cluster up at %s?)\n", endpoints[0].c_str());
    return 1;
  }

  const int nclients = std::max(1, absl::GetFlag(FLAGS_clients));
  const int inflight = std::max(1, absl::GetFlag(FLAGS_inflight));
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < nclients; ++i) {
    clients.push_back(std::make_unique<Client>(&shared, endpoints[i % endpoints.size()], i));
  }
  for (auto& c : clients) c->Start(inflight);
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_warmup_s)));
  shared.measuring = true;
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_duration_s)));
  shared.measuring = false;
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  shared.stop = true;
  for (auto& c : clients) c->WaitIdle();

  std::vector<double> all;
  uint64_t ok = 0, errors = 0;
  for (auto& c : clients) {
    std::vector<double> l = c->TakeLatencies();
    all.insert(all.end(), l.begin(), l.end());
    ok += c->ok();
    errors += c->errors();
  }
  std::sort(all.begin(), all.end());
  std::printf(
      "op=%s endpoints=%zu clients=%d inflight/client=%d value=%dB: %.0f ops/s "
      "(%" PRIu64 " ok, %" PRIu64
      " errors in %.1f s); latency ms p50 %.2f p99 %.2f p99.9 %.2f "
      "max %.2f\n",
      shared.op.c_str(), endpoints.size(), nclients, inflight, absl::GetFlag(FLAGS_value_bytes),
      ok / seconds, ok, errors, seconds, Percentile(all, 0.5) / 1000, Percentile(all, 0.99) / 1000,
      Percentile(all, 0.999) / 1000, all.empty() ? 0 : all.back() / 1000);
  return 0;
}
