// Overload end to end: 256 clients, each on its own connection, send as fast
// as they can to a 3-replica cluster (1 MiB sets, small sets, linearizable
// reads of 1 MiB nodes, min_revision reads, child listings) while 10,000
// watches are registered, half of them on streams that never read. Beside
// them, Tree.Pipeline streams keep hundreds of 1 MiB sets and 1 MiB
// linearizable reads in flight each: a replica that took everything it is
// sent would hold gigabytes, so the memory bound below is one only a
// bounded replica meets.
//
// The replicas run with small load bounds, so the flood goes past them:
// - every request gets an answer, and that answer is success or
//   RESOURCE_EXHAUSTED (nothing times out, nothing fails otherwise), except
//   that on a starved machine the leader may lose its term: the writes it
//   had in flight are then answered "outcome unknown" (DEADLINE_EXCEEDED
//   naming the leader change), as any client must expect; they stay few;
// - some requests are refused (the bounds were reached, not just approached);
// - no replica's resident memory exceeds kMaxRss (the bound this test
//   documents for the flags below; docs/operations.md, "Bounds");
// - afterwards every replica serves writes and reads normally.
//
// Bounded: each client stops after kFlood or kMaxCallsPerClient calls, each
// pipeline after kFlood or kPipelineCalls calls, whichever comes first;
// every call has a deadline.
//
// DISABLED_WithTheBoundsLiftedMemoryIsNotBounded runs the same flood against
// replicas whose bounds are lifted; run by hand, it shows the memory
// assertion can fail (docs/operations.md, "Bounds").
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "synod/v1/watch.grpc.pb.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/http_exchange.h"
#include "tests/testing/wait.h"

namespace synod::e2e {
namespace {

using ::synod::testing::HttpExchange;
using ::synod::testing::WaitUntil;

constexpr int kClients = 256;
constexpr int kBigWriters = 16;     // clients 0..15: 1 MiB sets
constexpr int kSmallWriters = 112;  // clients 16..127: small sets; the rest read
constexpr int kBigBytes = 1 << 20;
constexpr int kWatchStreams = 40;  // 250 watches each; odd streams never read
constexpr int kWatchesPerStream = 250;
constexpr absl::Duration kFlood = absl::Seconds(30);
constexpr int kMaxCallsPerClient = 2000;
constexpr absl::Duration kCallDeadline = absl::Seconds(60);
// Pipelines: two streams per replica, each with up to kPipelineCalls calls
// (1 MiB sets and linearizable 1 MiB reads, alternating) written without
// waiting for replies: 3 GiB offered in all.
constexpr int kPipelineStreams = 6;
constexpr int kPipelineCalls = 512;

// The documented bound for the bounded flags below: RocksDB cache 32 MiB,
// log cache 16 MiB, 16 MiB of pending writes, 256 MiB for gRPC, 16 MiB of
// queued replies per pipeline stream, watch queues, and the process's fixed
// overhead (threads, allocator).
constexpr int64_t kMaxRss = int64_t{1} << 30;

// A replica's resident memory from its /metrics; -1 if unreadable.
int64_t Rss(const std::string& metrics_addr) {
  int port = 0;
  if (!absl::SimpleAtoi(metrics_addr.substr(metrics_addr.rfind(':') + 1), &port)) return -1;
  const std::string text = HttpExchange(port, "GET /metrics HTTP/1.0\r\n\r\n");
  const std::string key = "\nprocess_resident_memory_bytes ";
  const size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  const size_t begin = at + key.size();
  double v = -1;
  if (!absl::SimpleAtod(text.substr(begin, text.find('\n', begin) - begin), &v)) return -1;
  return static_cast<int64_t>(v);
}

// Outcomes of all calls, by gRPC code, with one message per unexpected code.
class Outcomes {
 public:
  void Add(const grpc::Status& s) {
    absl::MutexLock lock(&mu_);
    if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
        absl::StrContains(s.error_message(), "leader changed")) {
      ++leader_changed_;
      return;
    }
    ++by_code_[s.error_code()];
    if (s.error_code() != grpc::StatusCode::OK &&
        s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
      examples_.emplace(s.error_code(), s.error_message());
    }
  }
  // Writes whose leader lost its term before applying them (outcome unknown).
  int leader_changed() const {
    absl::MutexLock lock(&mu_);
    return leader_changed_;
  }
  int count(grpc::StatusCode code) const {
    absl::MutexLock lock(&mu_);
    auto it = by_code_.find(code);
    return it == by_code_.end() ? 0 : it->second;
  }
  int total() const {
    absl::MutexLock lock(&mu_);
    int n = leader_changed_;
    for (const auto& [code, count] : by_code_) n += count;
    return n;
  }
  std::string Unexpected() const {
    absl::MutexLock lock(&mu_);
    std::string out;
    for (const auto& [code, message] : examples_) {
      absl::StrAppend(&out, "code ", static_cast<int>(code), " x", by_code_.at(code), ": ", message,
                      "\n");
    }
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<grpc::StatusCode, int> by_code_;
  std::map<grpc::StatusCode, std::string> examples_;
  int leader_changed_ = 0;
};

std::unique_ptr<grpc::ClientContext> Deadline() { return Ctx(kCallDeadline); }

// One client: its own connection to one replica, one call at a time, as
// fast as answers come.
void RunClient(int i, const std::string& addr, absl::Time end, Outcomes* outcomes,
               std::atomic<uint64_t>* revision) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  args.SetMaxReceiveMessageSize(64 << 20);
  auto tree =
      v1::Tree::NewStub(grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args));
  const std::string big(kBigBytes, static_cast<char>('a' + i % 26));
  for (int n = 0; n < kMaxCallsPerClient && absl::Now() < end; ++n) {
    grpc::Status s;
    if (i < kBigWriters) {
      v1::SetRequest req;
      req.mutable_op()->set_path(absl::StrCat("/big/", i));
      req.mutable_op()->set_data(big);
      v1::SetResponse resp;
      s = tree->Set(Deadline().get(), req, &resp);
      if (s.ok()) revision->store(std::max(revision->load(), resp.stat().mzxid()));
    } else if (i < kBigWriters + kSmallWriters) {
      v1::SetRequest req;
      req.mutable_op()->set_path(absl::StrCat("/small/", i % 64));
      req.mutable_op()->set_data(absl::StrCat(n));
      v1::SetResponse resp;
      s = tree->Set(Deadline().get(), req, &resp);
      if (s.ok()) revision->store(std::max(revision->load(), resp.stat().mzxid()));
    } else if (i % 3 == 0) {
      v1::GetRequest req;
      req.set_path(absl::StrCat("/big/", i % kBigWriters));
      v1::GetResponse resp;
      s = tree->Get(Deadline().get(), req, &resp);
    } else if (i % 3 == 1) {
      // Read-your-writes from anywhere: a revision another client saw.
      v1::GetRequest req;
      req.set_path(absl::StrCat("/small/", i % 64));
      req.mutable_read()->set_consistency(v1::SERIALIZABLE);
      req.mutable_read()->set_min_revision(revision->load());
      v1::GetResponse resp;
      s = tree->Get(Deadline().get(), req, &resp);
    } else {
      v1::GetChildrenRequest req;
      req.set_path("/small");
      v1::GetChildrenResponse resp;
      s = tree->GetChildren(Deadline().get(), req, &resp);
    }
    outcomes->Add(s);
  }
}

// One Tree.Pipeline stream on a connection of its own: a writer sends up to
// kPipelineCalls calls, one per message, without waiting; the caller's
// thread reads replies meanwhile. Each call's answer is recorded in
// `outcomes`; calls left unanswered when the stream ends take the stream's
// own status (RESOURCE_EXHAUSTED when the replica refused the stream).
void RunPipeline(int p, const std::string& addr, absl::Time end, Outcomes* outcomes,
                 std::atomic<uint64_t>* revision) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  auto tree =
      v1::Tree::NewStub(grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(end + kCallDeadline));
  auto stream = tree->Pipeline(&ctx);
  std::atomic<int> sent{0};
  std::thread writer([&] {
    const std::string big(kBigBytes, static_cast<char>('A' + p % 26));
    v1::PipelineRequest req;
    for (int n = 0; n < kPipelineCalls && absl::Now() < end; ++n) {
      req.Clear();
      v1::PipelineCall* call = req.add_calls();
      call->set_id(n);
      call->set_timeout_ms(absl::ToInt64Milliseconds(kCallDeadline));
      const std::string path = absl::StrCat("/big/", (p + n) % kBigWriters);
      if (n % 2 == 0) {
        v1::SetOp* op = call->mutable_set()->mutable_op();
        op->set_path(path);
        op->set_data(big);
      } else {
        call->mutable_get()->set_path(path);  // linearizable: waits for a read index
      }
      if (!stream->Write(req)) break;  // the stream ended; Finish says why
      ++sent;
    }
    stream->WritesDone();
  });
  int answered = 0;
  v1::PipelineResponse resp;
  while (stream->Read(&resp)) {
    for (const v1::PipelineReply& r : resp.replies()) {
      ++answered;
      if (r.has_set() && r.status_code() == 0) {
        revision->store(std::max(revision->load(), r.set().stat().mzxid()));
      }
      outcomes->Add(
          grpc::Status(static_cast<grpc::StatusCode>(r.status_code()), r.status_message()));
    }
  }
  writer.join();
  const grpc::Status finish = stream->Finish();
  for (int n = answered; n < sent; ++n) {
    outcomes->Add(finish.ok() ? grpc::Status(grpc::StatusCode::UNKNOWN,
                                             "the stream ended OK with calls unanswered")
                              : finish);
  }
  if (answered > sent) {
    outcomes->Add(grpc::Status(grpc::StatusCode::UNKNOWN, "more replies than calls"));
  }
}

// Watch streams: each creates kWatchesPerStream persistent watches on the
// nodes the writers change; a reading stream then consumes events until
// cancelled, a silent one never reads (its server-side queue is bounded).
class Watchers {
 public:
  void Start(TestCluster* cluster) {
    for (int w = 0; w < kWatchStreams; ++w) {
      auto s = std::make_unique<Stream>();
      s->stub = v1::Watch::NewStub(cluster->channel(w % cluster->size() + 1));
      s->stream = s->stub->Watch(&s->ctx);
      for (int k = 1; k <= kWatchesPerStream; ++k) {
        v1::WatchRequest req;
        v1::WatchCreateRequest* create = req.mutable_create();
        create->set_watch_id(k);
        create->set_kind(v1::WATCH_PERSISTENT);
        create->set_path(k % 8 == 0 ? absl::StrCat("/big/", k % kBigWriters)
                                    : absl::StrCat("/small/", k % 64));
        if (!s->stream->Write(req)) break;
        ++created_;
      }
      if (w % 2 == 0) {
        Stream* raw = s.get();
        s->reader = std::thread([raw, this] {
          v1::WatchResponse resp;
          while (raw->stream->Read(&resp)) events_ += resp.events_size();
        });
      }
      streams_.push_back(std::move(s));
    }
  }
  void Stop() {
    for (auto& s : streams_) s->ctx.TryCancel();
    for (auto& s : streams_) {
      if (s->reader.joinable()) s->reader.join();
      s->stream->Finish().IgnoreError();  // cancelled on purpose
    }
    streams_.clear();
  }
  int created() const { return created_; }
  int64_t events() const { return events_.load(); }

 private:
  struct Stream {
    std::unique_ptr<v1::Watch::Stub> stub;
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::WatchRequest, v1::WatchResponse>> stream;
    std::thread reader;
  };
  std::vector<std::unique_ptr<Stream>> streams_;
  int created_ = 0;
  std::atomic<int64_t> events_{0};
};

// Floods a cluster whose replicas run with `bounds` and checks the outcome
// (see the top of this file).
void FloodAndCheck(const std::vector<std::string>& bounds) {
  TestCluster::Options options;
  options.metrics = true;
  options.heartbeat_ms = 100;
  options.election_ms = 2000;  // a starved machine must not cause elections
  options.extra_flags = {"--cache_mb=32", "--history_per_node=2", "--request_timeout_ms=60000",
                         "--log_level=warning"};
  options.extra_flags.insert(options.extra_flags.end(), bounds.begin(), bounds.end());
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.StartAll().ok());
  ASSERT_NE(cluster.WaitForLeader(absl::Seconds(20)), 0);
  ASSERT_EQ(CreateNode(cluster.tree(1), "/big", ""), v1::OK);
  for (int i = 0; i < kBigWriters; ++i) {
    ASSERT_EQ(CreateNode(cluster.tree(1), absl::StrCat("/big/", i), ""), v1::OK);
  }
  ASSERT_EQ(CreateNode(cluster.tree(1), "/small", ""), v1::OK);
  for (int i = 0; i < 64; ++i) {
    ASSERT_EQ(CreateNode(cluster.tree(1), absl::StrCat("/small/", i), ""), v1::OK);
  }

  Watchers watchers;
  watchers.Start(&cluster);
  EXPECT_EQ(watchers.created(), kWatchStreams * kWatchesPerStream);

  std::atomic<bool> sampling{true};
  std::vector<int64_t> max_rss(cluster.size() + 1, 0);
  std::thread sampler([&] {
    while (sampling) {
      for (int id = 1; id <= cluster.size(); ++id) {
        max_rss[id] = std::max(max_rss[id], Rss(cluster.metrics_addr(id)));
      }
      absl::SleepFor(absl::Milliseconds(250));
    }
  });

  Outcomes outcomes;
  std::atomic<uint64_t> revision{0};
  const absl::Time end = absl::Now() + kFlood;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(RunClient, i, cluster.client_addr(i % cluster.size() + 1), end, &outcomes,
                         &revision);
  }
  for (int p = 0; p < kPipelineStreams; ++p) {
    clients.emplace_back(RunPipeline, p, cluster.client_addr(p % cluster.size() + 1), end,
                         &outcomes, &revision);
  }
  for (std::thread& t : clients) t.join();
  const absl::Time flood_end = absl::Now();
  watchers.Stop();
  sampling = false;
  sampler.join();

  const int ok = outcomes.count(grpc::StatusCode::OK);
  const int refused = outcomes.count(grpc::StatusCode::RESOURCE_EXHAUSTED);
  const int unknown = outcomes.leader_changed();
  std::printf(
      "flood: %d calls in %.1f s: %d OK, %d RESOURCE_EXHAUSTED, %d unknown (leader changed); "
      "%lld watch events read\n",
      outcomes.total(), absl::ToDoubleSeconds(flood_end - (end - kFlood)), ok, refused, unknown,
      static_cast<long long>(watchers.events()));
  for (int id = 1; id <= cluster.size(); ++id) {
    std::printf("replica %d: max RSS %.0f MiB (bound %lld MiB)\n", id,
                static_cast<double>(max_rss[id]) / (1 << 20),
                static_cast<long long>(kMaxRss >> 20));
  }
  // Every call was answered (the threads ended), with success or a refusal,
  // or, for the few in flight when a starved leader lost its term, with
  // "outcome unknown".
  EXPECT_EQ(ok + refused + unknown, outcomes.total()) << outcomes.Unexpected();
  EXPECT_LE(unknown, outcomes.total() / 100) << "more than 1% of calls lost to leader changes";
  EXPECT_GT(ok, 0);
  EXPECT_GT(refused, 0) << "the flood never reached the bounds: it proves nothing";
  for (int id = 1; id <= cluster.size(); ++id) {
    EXPECT_GT(max_rss[id], 0) << "replica " << id << ": RSS never read";
    EXPECT_LE(max_rss[id], kMaxRss) << "replica " << id;
  }

  // The cluster serves normally afterwards, through every replica.
  ASSERT_NE(cluster.WaitForLeader(absl::Seconds(20)), 0);
  for (int id = 1; id <= cluster.size(); ++id) {
    ASSERT_TRUE(WaitUntil(
        [&] {
          // NODE_EXISTS: an earlier attempt that timed out was applied.
          const v1::ErrorCode code =
              CreateNode(cluster.tree(id), absl::StrCat("/after-", id), "x", absl::Seconds(5));
          return code == v1::OK || code == v1::NODE_EXISTS;
        },
        absl::Seconds(30)))
        << "replica " << id;
    std::string data;
    EXPECT_EQ(GetNode(cluster.tree(id), absl::StrCat("/after-", id), &data), v1::OK);
    EXPECT_EQ(data, "x");
  }
}

TEST(FloodE2ETest, OverloadIsRefusedMemoryStaysBoundedAndServiceResumes) {
  FloodAndCheck({"--max_pending_requests=64", "--max_pending_mb=16", "--grpc_memory_mb=256"});
}

// The same flood with every bound a flag sets lifted far beyond the
// machine's memory: expected to FAIL the kMaxRss check (or to run out of
// memory), which shows the test tells a bounded replica from an unbounded
// one. Left out of CI: it takes gigabytes. Run with
//   flood_e2e_test --gtest_also_run_disabled_tests --gtest_filter='*Lifted*'
TEST(FloodE2ETest, DISABLED_WithTheBoundsLiftedMemoryIsNotBounded) {
  FloodAndCheck({"--max_pending_requests=100000000", "--max_pending_mb=1000000",
                 "--grpc_memory_mb=1000000", "--max_watches_per_stream=100000000",
                 "--max_watches_per_session=100000000", "--max_watches=100000000"});
}

}  // namespace
}  // namespace synod::e2e
