// session_churn through the load engine: every issued create becomes one
// session cycle on the connection's SessionClient, with a new key under
// kChurnParent each time; a failed cycle is an error; other kinds fail.
#include "bench/synod_bench/session_churn.h"

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "bench/synod_bench/load_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace synod::bench {
namespace {

// Records its cycles' keys; every `fail_every`-th cycle fails (0: none).
class FakeSessionClient : public SessionClient {
 public:
  FakeSessionClient(std::vector<std::string>* keys, std::mutex* mu, int fail_every)
      : keys_(keys), mu_(mu), fail_every_(fail_every) {}
  absl::Status Cycle(const std::string& key, const std::string& value) override {
    EXPECT_EQ(value, "v");
    std::lock_guard<std::mutex> lock(*mu_);
    keys_->push_back(key);
    if (fail_every_ > 0 && keys_->size() % static_cast<size_t>(fail_every_) == 0) {
      return absl::UnavailableError("session refused");
    }
    return absl::OkStatus();
  }

 private:
  std::vector<std::string>* keys_;
  std::mutex* mu_;
  const int fail_every_;
};

RunResult Churn(int clients, uint64_t count, int fail_every, std::vector<std::string>* keys) {
  std::mutex mu;
  std::vector<std::unique_ptr<ChurnConnection>> conns;
  std::vector<Connection*> raw;
  for (int i = 0; i < clients; ++i) {
    conns.push_back(std::make_unique<ChurnConnection>(
        std::make_unique<FakeSessionClient>(keys, &mu, fail_every)));
    raw.push_back(conns.back().get());
  }
  RunOptions o;
  o.workload = Workload::kSessionChurn;
  o.count = count;
  o.value = "v";
  return RunLoad(o, raw, WindowHooks());
}

TEST(SessionChurnTest, EachCycleCreatesANewKeyUnderTheChurnParent) {
  std::vector<std::string> keys;
  RunResult r = Churn(4, 300, 0, &keys);
  EXPECT_EQ(r.ok, 300u);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.latencies_us.size(), 300u);
  ASSERT_EQ(keys.size(), 300u);
  std::set<std::string> distinct(keys.begin(), keys.end());
  EXPECT_EQ(distinct.size(), 300u);
  for (const std::string& k : keys) {
    EXPECT_TRUE(absl::StartsWith(k, std::string(kChurnParent) + "/")) << k;
  }
}

TEST(SessionChurnTest, AFailedCycleIsAnError) {
  std::vector<std::string> keys;
  RunResult r = Churn(1, 100, 4, &keys);
  EXPECT_EQ(r.ok, 75u);
  EXPECT_EQ(r.errors, 25u);
  ASSERT_FALSE(r.first_errors.empty());
  EXPECT_EQ(r.first_errors[0], "session refused");
}

TEST(SessionChurnTest, OnlyCreatesAreCycles) {
  std::vector<std::string> keys;
  std::mutex mu;
  ChurnConnection c(std::make_unique<FakeSessionClient>(&keys, &mu, 0));
  struct Told : Completion {
    void Done(OpOutcome o, absl::string_view) override {
      std::lock_guard<std::mutex> lock(m);
      outcome = o;
      done = true;
      cv.notify_all();
    }
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    OpOutcome outcome = OpOutcome::kOk;
  } told;
  const std::string key = "/bench/k1", value = "v";
  c.Issue(OpKind::kWrite, key, value, &told);
  std::unique_lock<std::mutex> lock(told.m);
  told.cv.wait(lock, [&] { return told.done; });
  EXPECT_EQ(told.outcome, OpOutcome::kError);
  EXPECT_TRUE(keys.empty());
}

TEST(SessionChurnTest, ParseWorkloadKnowsTheNewNames) {
  EXPECT_EQ(*ParseWorkload("session_churn"), Workload::kSessionChurn);
  EXPECT_EQ(*ParseWorkload("watch_fanout"), Workload::kWatchFanout);
}

}  // namespace
}  // namespace synod::bench
