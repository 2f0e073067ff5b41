// The recipes with several client PROCESSES (recipe_worker), against real
// `synod` replicas:
//
// - lock: workers contend for one lock; each holder fences a shared counter
//   node with its token through conditional sets (recipe_worker.cc), so two
//   holders at once fail a worker; then a holder is killed with kill -9 and
//   the waiting worker takes over within the session timeout (+ slack);
// - leader election: the same, with the leader's candidate creation
//   revision as its term token;
// - queue: consumer processes take items while they are offered; each item
//   is delivered exactly once.
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/recipes/queue.h"
#include "gtest/gtest.h"
#include "synod/client.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod {
namespace {

using synod::testing::WaitUntil;

// Workers' sessions; the kill -9 takeover must happen within this + slack.
constexpr absl::Duration kSessionTimeout = absl::Seconds(2);
// The server notices an expired session on its next check and commits the
// expiry through the log; the waiter then lists the line again.
constexpr absl::Duration kTakeoverSlack = absl::Seconds(3);

e2e::TestCluster::Options ClusterOptions() {
  e2e::TestCluster::Options o;
  o.extra_flags = {"--min_session_timeout_ms=1000"};
  return o;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The numbers after "<tag> " at the start of lines of `text`.
std::vector<uint64_t> Tagged(const std::string& text, absl::string_view tag) {
  std::vector<uint64_t> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    uint64_t n = 0;
    if (absl::ConsumePrefix(&line, tag) && absl::ConsumePrefix(&line, " ") &&
        absl::SimpleAtoi(line, &n)) {
      out.push_back(n);
    }
  }
  return out;
}

class RecipesE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartAll().ok()) << Logs();
    ASSERT_NE(cluster_.WaitForLeader(absl::Seconds(20)), 0) << Logs();
    Client::Options o;
    for (int id = 1; id <= cluster_.size(); ++id) o.endpoints.push_back(cluster_.client_addr(id));
    o.request_timeout = absl::Seconds(20);
    absl::StatusOr<std::unique_ptr<Client>> c = Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }

  std::string Logs() {
    std::string out;
    for (int id = 1; id <= cluster_.size(); ++id) out += cluster_.LogTail(id, 2000) + "\n";
    return out;
  }

  // Starts a worker (from the test's main thread); output in log(name).
  testing::Subprocess Worker(const std::string& name, std::vector<std::string> args) {
    testing::Subprocess::Options o;
    o.binary = RECIPE_WORKER_BIN;
    std::vector<std::string> eps;
    for (int id = 1; id <= cluster_.size(); ++id) eps.push_back(cluster_.client_addr(id));
    o.args = {absl::StrJoin(eps, ","), absl::StrCat(absl::ToInt64Milliseconds(kSessionTimeout))};
    o.args.insert(o.args.end(), args.begin(), args.end());
    o.log_path = log(name);
    o.stop_grace = absl::Seconds(2);
    absl::StatusOr<testing::Subprocess> p = testing::Subprocess::Start(o);
    EXPECT_TRUE(p.ok()) << p.status();
    return std::move(p).value();  // throws (the test fails) if it did not start
  }
  std::string log(const std::string& name) { return dir_.Sub(name + ".log"); }

  // Waits for the worker to exit; its exit code (-1 if it did not exit).
  int Finish(testing::Subprocess& worker, absl::Duration timeout = absl::Seconds(90)) {
    absl::StatusOr<int> status = worker.Wait(timeout);
    if (!status.ok() || !WIFEXITED(*status)) return -1;
    return WEXITSTATUS(*status);
  }

  size_t NumChildren(const std::string& path) {
    return client_->GetChildren(path).value_or(ChildrenResult{}).children.size();
  }

  // Contention: `n` workers of `mode` (lock/elect) run `rounds` rounds each
  // on one counter; none sees another holder; the counter saw every round.
  void Contend(const std::string& mode, const std::string& path, const std::string& counter, int n,
               int rounds) {
    ASSERT_TRUE(client_->Create(counter, "").ok());
    std::vector<testing::Subprocess> workers;
    for (int w = 0; w < n; ++w) {
      std::vector<std::string> args = {mode, path, counter};
      if (mode == "elect") args.push_back(absl::StrCat("w", w));
      args.push_back(absl::StrCat(rounds));
      args.push_back("30");  // hold ms: long enough for a second holder to show
      workers.push_back(Worker(absl::StrCat(mode, w), args));
    }
    std::vector<uint64_t> tokens;
    const std::string tag = mode == "lock" ? "HELD" : "LEADER";
    for (int w = 0; w < n; ++w) {
      EXPECT_EQ(Finish(workers[w]), 0) << mode << w << ":\n"
                                       << ReadFile(log(absl::StrCat(mode, w)));
      for (uint64_t t : Tagged(ReadFile(log(absl::StrCat(mode, w))), tag)) tokens.push_back(t);
    }
    EXPECT_EQ(tokens.size(), static_cast<size_t>(n * rounds));
    EXPECT_EQ(std::set<uint64_t>(tokens.begin(), tokens.end()).size(), tokens.size());
    absl::StatusOr<GetResult> final_counter = client_->Get(counter);
    ASSERT_TRUE(final_counter.ok()) << final_counter.status();
    // One conditional set per holder, each accepted.
    EXPECT_EQ(final_counter->stat.version, n * rounds);
    EXPECT_EQ(final_counter->data, absl::StrCat(*std::max_element(tokens.begin(), tokens.end())));
  }

  // Takeover: worker A holds (forever), B waits; kill -9 A; B takes over
  // within the session timeout + slack, with a larger token.
  void Takeover(const std::string& mode, const std::string& path, const std::string& counter) {
    ASSERT_TRUE(client_->Create(counter, "").ok());
    const std::string tag = mode == "lock" ? "HELD" : "LEADER";
    std::vector<std::string> a = {mode, path, counter}, b = {mode, path, counter};
    if (mode == "elect") {
      a.push_back("A");
      b.push_back("B");
    }
    a.insert(a.end(), {"0", "0"});    // hold until killed
    b.insert(b.end(), {"1", "100"});  // one round
    testing::Subprocess holder = Worker(mode + "-A", a);
    ASSERT_TRUE(WaitUntil([&] { return !Tagged(ReadFile(log(mode + "-A")), tag).empty(); },
                          absl::Seconds(30)))
        << ReadFile(log(mode + "-A"));
    const uint64_t first = Tagged(ReadFile(log(mode + "-A")), tag)[0];
    testing::Subprocess next = Worker(mode + "-B", b);
    ASSERT_TRUE(WaitUntil([&] { return NumChildren(path) == 2; }, absl::Seconds(30)))
        << ReadFile(log(mode + "-B"));
    EXPECT_TRUE(Tagged(ReadFile(log(mode + "-B")), tag).empty()) << "two holders at once";
    holder.Kill();
    const absl::Time killed = absl::Now();
    ASSERT_TRUE(WaitUntil([&] { return !Tagged(ReadFile(log(mode + "-B")), tag).empty(); },
                          kSessionTimeout + kTakeoverSlack + absl::Seconds(10)))
        << ReadFile(log(mode + "-B"));
    const absl::Duration takeover = absl::Now() - killed;
    std::cout << mode << " takeover after kill -9: " << takeover << "\n";
    EXPECT_LT(takeover, kSessionTimeout + kTakeoverSlack);
    EXPECT_GT(Tagged(ReadFile(log(mode + "-B")), tag)[0], first);
    EXPECT_EQ(Finish(next), 0) << ReadFile(log(mode + "-B"));
  }

  e2e::TestCluster cluster_{ClusterOptions()};
  testing::TempDir dir_{"synod-recipes-e2e-"};
  std::unique_ptr<Client> client_;
};

TEST_F(RecipesE2ETest, LockHasOneHolderAtATimeAndSurvivesAKilledHolder) {
  Contend("lock", "/locks/job", "/fence-contend", /*n=*/3, /*rounds=*/4);
  Takeover("lock", "/locks/crash", "/fence-crash");
}

TEST_F(RecipesE2ETest, ElectionHasOneLeaderAtATimeAndSurvivesAKilledLeader) {
  Contend("elect", "/elections/svc", "/term-contend", /*n=*/3, /*rounds=*/3);
  Takeover("elect", "/elections/crash", "/term-crash");
}

TEST_F(RecipesE2ETest, QueueDeliversEachItemOnceToConsumerProcesses) {
  constexpr int kConsumers = 3;
  constexpr int kItems = 60;
  std::vector<testing::Subprocess> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.push_back(Worker(absl::StrCat("consumer", c), {"consume", "/jobs", "/jobs-done"}));
  }
  recipes::DistributedQueue queue(client_.get(), "/jobs");
  for (int i = 0; i < kItems; ++i) {
    absl::StatusOr<std::string> offered = queue.Offer(absl::StrCat(i));
    ASSERT_TRUE(offered.ok()) << offered.status();
  }
  ASSERT_TRUE(client_->Create("/jobs-done", "").ok());
  std::map<uint64_t, int> delivered;
  std::vector<int> per_consumer;
  for (int c = 0; c < kConsumers; ++c) {
    const std::string name = absl::StrCat("consumer", c);
    EXPECT_EQ(Finish(consumers[c], absl::Seconds(60)), 0) << ReadFile(log(name));
    std::vector<uint64_t> items = Tagged(ReadFile(log(name)), "ITEM");
    per_consumer.push_back(static_cast<int>(items.size()));
    for (uint64_t item : items) ++delivered[item];
  }
  std::cout << "items per consumer: " << absl::StrJoin(per_consumer, " ") << "\n";
  EXPECT_EQ(delivered.size(), static_cast<size_t>(kItems));
  for (const auto& [item, times] : delivered) {
    EXPECT_EQ(times, 1) << "item " << item;
    EXPECT_LT(item, static_cast<uint64_t>(kItems));
  }
  EXPECT_EQ(NumChildren("/jobs"), 0u);
}

}  // namespace
}  // namespace synod
