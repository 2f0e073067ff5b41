// End-to-end scaling while serving: a 3-replica cluster grows to 5 (each
// newcomer a learner first, promoted once caught up) and shrinks back to 3
// (the leader among the removed) while a writer keeps 64 creates in flight;
// every acknowledged create is then on every remaining replica. Also: a
// lagging learner is not promoted, and an id in use is not added again.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/e2e/membership_calls.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/wait.h"

namespace synod::e2e {
namespace {

using ::synod::testing::WaitUntil;

// Keeps `threads` creates in flight (one blocking call per thread), each of
// a path no other write uses, against the replicas it is given (followers
// forward to the leader). A create is retried on UNAVAILABLE, NOT_LEADER and
// DEADLINE_EXCEEDED with backoff, on the next replica, until its retry
// deadline; NODE_EXISTS on a retry means an earlier attempt was applied.
// Anything else, or running out of time, is a failure.
//
// Thread: Start/Stop/SetTargets from the test thread; the counters and
// results may be read from it at any time.
class Writer {
 public:
  static constexpr int kThreads = 64;
  // Bounds the run (and the verification after it) if the test stalls.
  static constexpr int kMaxPerThread = 400;
  static constexpr absl::Duration kRetryDeadline = absl::Seconds(20);

  struct Acked {
    std::string path;
    std::string data;
  };

  explicit Writer(std::vector<v1::Tree::Stub*> targets) : targets_(std::move(targets)) {}
  ~Writer() { Stop(); }

  void Start() {
    for (int t = 0; t < kThreads; ++t) threads_.emplace_back([this, t] { Run(t); });
  }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }
  // Replicas to write through from now on (calls under way finish where
  // they are).
  void SetTargets(std::vector<v1::Tree::Stub*> targets) {
    absl::MutexLock lock(&mu_);
    targets_ = std::move(targets);
  }
  int acked() const { return acked_count_.load(); }
  // Waits until `more` creates beyond now are acknowledged.
  bool Progresses(int more, absl::Duration timeout = absl::Seconds(30)) const {
    const int target = acked() + more;
    return WaitUntil([&] { return acked() >= target; }, timeout);
  }

  std::vector<Acked> acked_writes() const {
    absl::MutexLock lock(&mu_);
    return acked_;
  }
  std::map<v1::ErrorCode, int> retries() const {
    absl::MutexLock lock(&mu_);
    return retries_;
  }
  std::vector<std::string> failures() const {
    absl::MutexLock lock(&mu_);
    return failures_;
  }

 private:
  v1::Tree::Stub* Target(size_t n) const {
    absl::MutexLock lock(&mu_);
    return targets_[n % targets_.size()];
  }

  void Run(int t) {
    for (int seq = 0; seq < kMaxPerThread && !stop_; ++seq) {
      const std::string path = absl::StrCat("/w/", t, "-", seq);
      const std::string data = absl::StrCat(t, ":", seq);
      const absl::Time deadline = absl::Now() + kRetryDeadline;
      absl::Duration backoff = absl::Milliseconds(10);
      for (size_t attempt = 0;; ++attempt) {
        const absl::Duration left = deadline - absl::Now();
        const v1::ErrorCode code =
            CreateNode(Target(t + attempt), path, data,
                       std::clamp(left, absl::Milliseconds(1), absl::Seconds(3)));
        if (code == v1::OK || (code == v1::NODE_EXISTS && attempt > 0)) {
          absl::MutexLock lock(&mu_);
          acked_.push_back({path, data});
          ++acked_count_;
          break;
        }
        const bool retriable =
            code == v1::UNAVAILABLE || code == v1::NOT_LEADER || code == v1::DEADLINE_EXCEEDED;
        if (!retriable || absl::Now() + backoff >= deadline) {
          absl::MutexLock lock(&mu_);
          failures_.push_back(absl::StrCat(path, ": ", v1::ErrorCode_Name(code), " after ",
                                           attempt + 1, " attempts"));
          break;
        }
        {
          absl::MutexLock lock(&mu_);
          ++retries_[code];
        }
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Milliseconds(200));
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> acked_count_{0};
  mutable absl::Mutex mu_;
  std::vector<v1::Tree::Stub*> targets_ ABSL_GUARDED_BY(mu_);
  std::vector<Acked> acked_ ABSL_GUARDED_BY(mu_);
  std::map<v1::ErrorCode, int> retries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

std::vector<v1::Tree::Stub*> Stubs(TestCluster& c, const std::set<int>& ids) {
  std::vector<v1::Tree::Stub*> out;
  for (int id : ids) out.push_back(c.tree(id));
  return out;
}

// Adds slot `id` as a learner, starts it with --join, and promotes it once
// the leader says it has caught up.
void Grow(TestCluster& c, const std::set<int>& voters, int id) {
  ASSERT_EQ(OnLeader(c, voters, [&](int leader) { return Add(c, leader, id); }), v1::OK)
      << Logs(c, id - c.size());
  EXPECT_TRUE(WaitUntil(
      [&] {
        const int leader = c.WaitForLeader(absl::Seconds(5), voters);
        return leader != 0 && MembershipOf(c, leader).learners.count(id) == 1;
      },
      absl::Seconds(10)))
      << "member " << id << " is not a learner";
  ASSERT_TRUE(c.Start(id).ok()) << Logs(c, id - c.size());
  v1::ErrorCode last = v1::UNAVAILABLE;
  ASSERT_TRUE(WaitUntil(
      [&] {
        last = OnLeader(
            c, voters, [&](int leader) { return Promote(c, leader, id); }, absl::Seconds(10));
        return last == v1::OK;
      },
      absl::Seconds(40), absl::Milliseconds(200)))
      << "last answer " << v1::ErrorCode_Name(last) << "\n"
      << Logs(c, id - c.size());
}

// Removes `id` (through the leader among `voters`) and stops it.
void Shrink(TestCluster& c, const std::set<int>& voters, int id) {
  ASSERT_EQ(OnLeader(c, voters, [&](int leader) { return Remove(c, leader, id); }), v1::OK)
      << Logs(c, 2);
  EXPECT_EQ(c.Stop(id), "exit 0");
}

TEST(ScaleE2ETest, ThreeToFiveToThreeUnderLoad) {
  TestCluster::Options o;
  o.snapshot_threshold = 2000;  // newcomers get a snapshot, then the log
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  ASSERT_NE(c.WaitForLeader(absl::Seconds(20)), 0) << Logs(c);
  std::set<int> voters = {1, 2, 3};
  ASSERT_EQ(OnLeader(c, voters, [&](int l) { return CreateNode(c.tree(l), "/w", ""); }), v1::OK);

  Writer writer(Stubs(c, voters));
  writer.Start();
  ASSERT_TRUE(writer.Progresses(500)) << Logs(c);

  // 3 -> 5, one member at a time.
  for (int i = 0; i < 2; ++i) {
    const int id = c.AddMemberSlot();
    Grow(c, voters, id);
    if (HasFatalFailure()) return;
    voters.insert(id);
    writer.SetTargets(Stubs(c, voters));
    ASSERT_TRUE(writer.Progresses(300)) << Logs(c, 2);
  }
  EXPECT_EQ(MembershipOf(c, 1).voters, (std::set<int>{1, 2, 3, 4, 5}));

  // 5 -> 3: the leader first (it hands leadership over before it goes),
  // then one of the newcomers that does not lead.
  const int leader = c.WaitForLeader(absl::Seconds(10), voters);
  ASSERT_NE(leader, 0) << Logs(c, 2);
  std::set<int> rest = voters;
  rest.erase(leader);
  writer.SetTargets(Stubs(c, rest));
  Shrink(c, voters, leader);
  if (HasFatalFailure()) return;
  voters = rest;
  const int next = c.WaitForLeader(absl::Seconds(10), voters);
  ASSERT_NE(next, 0) << Logs(c, 2);
  EXPECT_NE(next, leader);
  ASSERT_TRUE(writer.Progresses(300)) << Logs(c, 2);

  const int second =
      *std::find_if(voters.rbegin(), voters.rend(), [&](int id) { return id != next; });
  rest.erase(second);
  writer.SetTargets(Stubs(c, rest));
  Shrink(c, voters, second);
  if (HasFatalFailure()) return;
  voters = rest;
  ASSERT_TRUE(writer.Progresses(300)) << Logs(c, 2);
  writer.Stop();

  const std::vector<std::string> failures = writer.failures();
  std::string retried;
  for (const auto& [code, n] : writer.retries()) {
    absl::StrAppend(&retried, " ", v1::ErrorCode_Name(code), "=", n);
  }
  const std::vector<Writer::Acked> acked = writer.acked_writes();
  std::printf("acknowledged %zu creates; retried:%s; failed: %zu\n", acked.size(),
              retried.empty() ? " none" : retried.c_str(), failures.size());
  EXPECT_TRUE(failures.empty()) << failures.size() << " writes failed, first: " << failures[0];

  const int final_leader = c.WaitForLeader(absl::Seconds(10), voters);
  ASSERT_NE(final_leader, 0) << Logs(c, 2);
  const Membership m = MembershipOf(c, final_leader);
  EXPECT_EQ(m.voters, voters);
  EXPECT_TRUE(m.learners.empty());
  ASSERT_NE(Digest(c, voters), 0u) << Logs(c, 2);

  // Every acknowledged create, read locally on every remaining replica.
  for (int id : voters) {
    std::atomic<int> missing{0};
    std::string first_missing;
    absl::Mutex mu;
    std::vector<std::thread> readers;
    constexpr int kReaders = 16;
    for (int r = 0; r < kReaders; ++r) {
      readers.emplace_back([&, r] {
        for (size_t i = r; i < acked.size(); i += kReaders) {
          std::string data;
          const v1::ErrorCode code = GetNode(c.tree(id), acked[i].path, &data, v1::SERIALIZABLE);
          if (code != v1::OK || data != acked[i].data) {
            if (missing++ == 0) {
              absl::MutexLock lock(&mu);
              first_missing =
                  absl::StrCat(acked[i].path, ": ", v1::ErrorCode_Name(code), " data '", data, "'");
            }
          }
        }
      });
    }
    for (std::thread& t : readers) t.join();
    EXPECT_EQ(missing.load(), 0) << "replica " << id << " lacks acknowledged writes, first "
                                 << first_missing;
  }
}

TEST(ScaleE2ETest, LaggingLearnerIsNotPromotedAndIdsInUseAreNotAdded) {
  TestCluster c({});
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const std::set<int> voters = {1, 2, 3};
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  const int four = c.AddMemberSlot();

  // Ids in use (a voter's; then the learner's) are refused, whatever the
  // addresses, and nothing changes.
  EXPECT_EQ(AddAs(c, leader, 2, c.peer_addr(four), c.client_addr(four)), v1::MEMBER_EXISTS);
  EXPECT_EQ(MembershipOf(c, leader).voters, voters);
  ASSERT_EQ(Add(c, leader, four), v1::OK) << Logs(c);
  EXPECT_EQ(Add(c, leader, four), v1::MEMBER_EXISTS);
  EXPECT_EQ(AddAs(c, leader, four, "127.0.0.1:1", "127.0.0.1:2"), v1::MEMBER_EXISTS);

  // The learner catches up, then is cut off while the others go more than
  // a promotion's allowed lag (1000 entries) ahead.
  ASSERT_TRUE(c.Start(four).ok()) << Logs(c, 1);
  ASSERT_NE(Digest(c, {1, 2, 3, four}), 0u) << Logs(c, 1);
  c.Isolate(four, voters);
  ASSERT_EQ(CreateNode(c.tree(leader), "/lag", ""), v1::OK) << Logs(c, 1);
  {
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 150; ++i) {
          if (CreateNode(c.tree(leader), absl::StrCat("/lag/", t, "-", i), "") != v1::OK) {
            ++failed;
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    ASSERT_EQ(failed.load(), 0) << Logs(c, 1);
  }
  auto st = c.Status(leader);
  ASSERT_TRUE(st.ok());
  uint64_t learner_match = 0;
  for (const auto& ms : st->members()) {
    if (static_cast<int>(ms.member().id()) == four) learner_match = ms.match_index();
  }
  ASSERT_GT(st->commit_index(), learner_match + 1000) << "the learner did not fall behind";

  EXPECT_EQ(Promote(c, leader, four), v1::LEARNER_NOT_READY);
  const Membership after = MembershipOf(c, leader);
  EXPECT_EQ(after.voters, voters);
  EXPECT_EQ(after.learners, std::set<int>{four});

  // Reconnected, it catches up and the same request succeeds.
  c.Isolate(four, {});
  ASSERT_TRUE(WaitUntil([&] { return Promote(c, leader, four) == v1::OK; }, absl::Seconds(30),
                        absl::Milliseconds(200)))
      << Logs(c, 1);
  EXPECT_EQ(MembershipOf(c, leader).voters, (std::set<int>{1, 2, 3, four}));
  ASSERT_NE(Digest(c, {1, 2, 3, four}), 0u) << Logs(c, 1);
}

}  // namespace
}  // namespace synod::e2e
