// End-to-end tests of the replica (issue 5): real processes, real crashes.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/e2e/test_cluster.h"
#include "tests/testing/wait.h"

namespace synod::e2e {
namespace {

using ::synod::testing::WaitUntil;

// Tells why a test failed: the tail of every member's log.
std::string Logs(TestCluster& c) {
  std::string out;
  for (int id = 1; id <= c.size(); ++id) out += c.LogTail(id, 2500) + "\n";
  return out;
}

int AnyFollower(TestCluster& c, int leader, int not_this = 0) {
  for (int id : c.RunningIds()) {
    if (id != leader && id != not_this) return id;
  }
  return 0;
}

// Waits until all running members (or `among`) applied the same index and
// report the same digest; returns that digest (0 on timeout).
uint64_t ConvergedDigest(TestCluster& c, absl::Duration timeout, std::set<int> among = {}) {
  if (among.empty()) {
    for (int id : c.RunningIds()) among.insert(id);
  }
  uint64_t digest = 0;
  WaitUntil(
      [&] {
        std::set<std::pair<uint64_t, uint64_t>> seen;
        for (int id : among) {
          auto st = c.Status(id);
          if (!st.ok()) return false;
          seen.insert({st->applied_index(), st->digest()});
        }
        if (seen.size() != 1) return false;
        digest = seen.begin()->second;
        return true;
      },
      timeout, absl::Milliseconds(100));
  return digest;
}

// A writer that keeps creating /w/<n> on the members in turn, retrying a
// write whose outcome is unknown under a new name, and remembers which
// writes were acknowledged.
class Writer {
 public:
  explicit Writer(TestCluster* c) : c_(c) {}
  ~Writer() { StopAndJoin(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void StopAndJoin() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int acked() const { return acked_count_.load(); }
  std::vector<std::string> acked_paths() {
    absl::MutexLock lock(&mu_);
    return acked_;
  }
  // Waits until `n` more writes than now were acknowledged.
  bool WaitForMore(int n, absl::Duration timeout) {
    const int target = acked() + n;
    return WaitUntil([&] { return acked() >= target; }, timeout, absl::Milliseconds(20));
  }

 private:
  void Run() {
    int n = 0;
    int member = 1;
    // Bounded in count and time: a test never writes forever.
    const absl::Time end = absl::Now() + absl::Minutes(3);
    while (!stop_ && n < 200000 && absl::Now() < end) {
      const std::string path = absl::StrCat("/w/", n++);
      member = member % c_->size() + 1;
      if (!c_->Running(member)) continue;
      const v1::ErrorCode code =
          CreateNode(c_->tree(member), path, std::string(64, 'x'), absl::Seconds(2));
      if (code == v1::OK) {
        absl::MutexLock lock(&mu_);
        acked_.push_back(path);
        acked_count_++;
      }
    }
  }

  TestCluster* const c_;
  std::atomic<bool> stop_{false};
  std::atomic<int> acked_count_{0};
  absl::Mutex mu_;
  std::vector<std::string> acked_;
  std::thread thread_;
};

// Every acknowledged path is readable (serializably, i.e. from the local
// state) on every running member.
void ExpectAllPresent(TestCluster& c, const std::vector<std::string>& paths) {
  for (int id : c.RunningIds()) {
    int missing = 0;
    for (const std::string& p : paths) {
      std::string data;
      if (GetNode(c.tree(id), p, &data, v1::SERIALIZABLE) != v1::OK) ++missing;
    }
    EXPECT_EQ(missing, 0) << "member " << id << " lacks " << missing << " of " << paths.size()
                          << " acknowledged writes";
  }
}

TEST(ClusterE2ETest, FollowerWriteIsLinearizablyReadableOnThird) {
  TestCluster c({});
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  const int follower = AnyFollower(c, leader);
  const int third = AnyFollower(c, leader, follower);
  ASSERT_EQ(CreateNode(c.tree(follower), "/app", ""), v1::OK) << Logs(c);
  for (int i = 0; i < 50; ++i) {
    const std::string value = absl::StrCat("v", i);
    ASSERT_EQ(SetNode(c.tree(follower), "/app", value), v1::OK);
    std::string got;
    ASSERT_EQ(GetNode(c.tree(third), "/app", &got, v1::LINEARIZABLE), v1::OK);
    EXPECT_EQ(got, value) << "linearizable read on member " << third
                          << " missed a write acknowledged by member " << follower;
  }
  // The write's own replica reads it serializably (it completes after apply).
  ASSERT_EQ(SetNode(c.tree(follower), "/app", "own"), v1::OK);
  std::string got;
  ASSERT_EQ(GetNode(c.tree(follower), "/app", &got, v1::SERIALIZABLE), v1::OK);
  EXPECT_EQ(got, "own");
  EXPECT_EQ(c.Stop(follower), "exit 0") << c.LogTail(follower);
}

TEST(ClusterE2ETest, BadInputIsRefusedWithTypedErrors) {
  TestCluster::Options o;
  o.size = 1;
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  ASSERT_NE(c.WaitForLeader(absl::Seconds(20)), 0) << Logs(c);
  EXPECT_EQ(CreateNode(c.tree(1), "no-slash", ""), v1::INVALID_PATH);
  EXPECT_EQ(CreateNode(c.tree(1), "/a/", ""), v1::INVALID_PATH);
  EXPECT_EQ(CreateNode(c.tree(1), "/a/../b", ""), v1::INVALID_PATH);
  EXPECT_EQ(CreateNode(c.tree(1), "/big", std::string((1 << 20) + 1, 'x')), v1::TOO_LARGE);
  EXPECT_EQ(CreateNode(c.tree(1), "/x/y", ""), v1::NO_NODE);
  EXPECT_EQ(CreateNode(c.tree(1), "/x", ""), v1::OK);
  EXPECT_EQ(CreateNode(c.tree(1), "/x", ""), v1::NODE_EXISTS);
  // A bad-version set maps to ABORTED with the header in the details.
  v1::SetRequest set;
  set.mutable_op()->set_path("/x");
  set.mutable_op()->set_expected_version(7);
  v1::SetResponse set_resp;
  grpc::Status s = c.tree(1)->Set(Ctx().get(), set, &set_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(HeaderOf(s, set_resp.header()).code(), v1::BAD_VERSION);
  EXPECT_EQ(HeaderOf(s, set_resp.header()).member_id(), 1u);
  // An unknown enum value is refused, not applied.
  v1::CreateRequest create;
  create.mutable_op()->set_path("/m");
  create.mutable_op()->set_mode(static_cast<v1::CreateMode>(42));
  v1::CreateResponse create_resp;
  s = c.tree(1)->Create(Ctx().get(), create, &create_resp);
  EXPECT_EQ(CodeOf(s, create_resp.header()), v1::INVALID_ARGUMENT);
  // Oversized request: gRPC refuses it; the server keeps running.
  v1::CreateRequest huge;
  huge.mutable_op()->set_path("/huge");
  huge.mutable_op()->set_data(std::string(9 << 20, 'x'));
  s = c.tree(1)->Create(Ctx().get(), huge, &create_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(CreateNode(c.tree(1), "/still-alive", ""), v1::OK);
}

TEST(ClusterE2ETest, KillLeaderUnderWriterLosesNoAcknowledgedWrite) {
  TestCluster::Options o;
  o.snapshot_threshold = 300;
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  ASSERT_EQ(CreateNode(c.tree(leader), "/w", ""), v1::OK);

  Writer writer(&c);
  writer.Start();
  ASSERT_TRUE(writer.WaitForMore(200, absl::Seconds(30))) << Logs(c);
  c.Kill(leader);
  const absl::Time killed = absl::Now();
  const int new_leader = c.WaitForLeader(absl::Seconds(10));
  ASSERT_NE(new_leader, 0) << Logs(c);
  EXPECT_LT(absl::Now() - killed, absl::Seconds(5)) << "new leader took too long";
  // Past two snapshot thresholds: the survivors' logs no longer hold what
  // the killed member lacks, so it must catch up through a snapshot.
  ASSERT_TRUE(writer.WaitForMore(1000, absl::Seconds(60))) << Logs(c);
  ASSERT_TRUE(c.Start(leader).ok()) << Logs(c);
  ASSERT_TRUE(writer.WaitForMore(100, absl::Seconds(30))) << Logs(c);
  writer.StopAndJoin();

  const uint64_t digest = ConvergedDigest(c, absl::Seconds(30));
  EXPECT_NE(digest, 0u) << Logs(c);
  ExpectAllPresent(c, writer.acked_paths());
  EXPECT_NE(c.LogTail(leader, 1 << 20).find("installed snapshot"), std::string::npos)
      << "the restarted member should have caught up through InstallSnapshot\n"
      << c.LogTail(leader);
}

TEST(ClusterE2ETest, KilledFollowerCatchesUpBySnapshot) {
  TestCluster::Options o;
  o.snapshot_threshold = 200;
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  const int follower = AnyFollower(c, leader);
  ASSERT_EQ(CreateNode(c.tree(leader), "/w", ""), v1::OK);
  c.Kill(follower);
  std::vector<std::string> acked;
  for (int i = 0; i < 800; ++i) {
    const std::string path = absl::StrCat("/w/", i);
    ASSERT_EQ(CreateNode(c.tree(leader), path, "d"), v1::OK) << Logs(c);
    acked.push_back(path);
  }
  ASSERT_TRUE(c.Start(follower).ok()) << Logs(c);
  EXPECT_NE(ConvergedDigest(c, absl::Seconds(30)), 0u) << Logs(c);
  ExpectAllPresent(c, acked);
  EXPECT_NE(c.LogTail(follower, 1 << 20).find("installed snapshot"), std::string::npos)
      << c.LogTail(follower);
}

TEST(ClusterE2ETest, RestartAllKeepsState) {
  TestCluster::Options o;
  o.snapshot_threshold = 100;
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  int leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  ASSERT_EQ(CreateNode(c.tree(leader), "/r", ""), v1::OK);
  std::vector<std::string> acked;
  for (int i = 0; i < 250; ++i) {
    const std::string path = absl::StrCat("/r/", i);
    ASSERT_EQ(CreateNode(c.tree(i % 3 + 1), path, absl::StrCat(i)), v1::OK) << Logs(c);
    acked.push_back(path);
  }
  const uint64_t before = ConvergedDigest(c, absl::Seconds(20));
  ASSERT_NE(before, 0u);
  for (int id = 1; id <= 3; ++id) c.Kill(id);  // all at once, no clean stop
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(leader, 0) << Logs(c);
  ExpectAllPresent(c, acked);
  // The new leader's no-op changes the applied index, not the tree.
  EXPECT_EQ(ConvergedDigest(c, absl::Seconds(20)), before);
  ASSERT_EQ(CreateNode(c.tree(leader), "/after", ""), v1::OK);
}

TEST(ClusterE2ETest, PartitionedLeaderStopsServingMajorityContinues) {
  TestCluster c({});
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int old_leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(old_leader, 0) << Logs(c);
  ASSERT_EQ(CreateNode(c.tree(old_leader), "/p", "before"), v1::OK);
  std::set<int> others;
  for (int id = 1; id <= 3; ++id) {
    if (id != old_leader) others.insert(id);
  }
  c.Isolate(old_leader, others);

  // The majority elects a new leader and serves writes.
  const int new_leader = c.WaitForLeader(absl::Seconds(10), others);
  ASSERT_NE(new_leader, 0) << Logs(c);
  ASSERT_EQ(SetNode(c.tree(new_leader), "/p", "after", absl::Seconds(5)), v1::OK) << Logs(c);

  // The cut-off replica neither acknowledges writes nor serves linearizable
  // reads; it answers within the deadline, never hangs past it.
  const absl::Time start = absl::Now();
  const v1::ErrorCode write = SetNode(c.tree(old_leader), "/p", "lost", absl::Seconds(2));
  EXPECT_NE(write, v1::OK);
  std::string data;
  const v1::ErrorCode read =
      GetNode(c.tree(old_leader), "/p", &data, v1::LINEARIZABLE, absl::Seconds(2));
  EXPECT_NE(read, v1::OK) << "served " << data;
  EXPECT_LT(absl::Now() - start, absl::Seconds(6));
  // Once it has stepped down (check-quorum), it fails fast.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto st = c.Status(old_leader);
        return st.ok() && st->role() != v1::ROLE_LEADER;
      },
      absl::Seconds(10)))
      << Logs(c);
  const absl::Time fast = absl::Now();
  const v1::ErrorCode refused = SetNode(c.tree(old_leader), "/p", "lost", absl::Seconds(5));
  EXPECT_TRUE(refused == v1::UNAVAILABLE || refused == v1::NOT_LEADER) << refused;
  EXPECT_LT(absl::Now() - fast, absl::Seconds(1));

  // Healed, it follows the new leader and has the majority's data.
  c.Isolate(old_leader, {});
  ASSERT_NE(c.WaitForLeader(absl::Seconds(10)), 0) << Logs(c);
  EXPECT_NE(ConvergedDigest(c, absl::Seconds(20)), 0u) << Logs(c);
  ASSERT_EQ(GetNode(c.tree(old_leader), "/p", &data, v1::LINEARIZABLE), v1::OK);
  EXPECT_EQ(data, "after");
}

// A write forwarded to a paused leader is answered "outcome unknown" once
// the new leader's first entry is applied; when the old leader resumes, the
// proposal that waited in its socket belongs to a past term and dies there
// (it is neither appended by the new leader nor forwarded to it), so the
// write never lands after its answer over a value acknowledged meanwhile.
TEST(ClusterE2ETest, WriteForwardedToPausedLeaderNeverLandsAfterItsAnswer) {
  TestCluster c({});
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  const int old_leader = c.WaitForLeader(absl::Seconds(20));
  ASSERT_NE(old_leader, 0) << Logs(c);
  ASSERT_EQ(CreateNode(c.tree(old_leader), "/k", "initial"), v1::OK);
  const int follower = AnyFollower(c, old_leader);
  std::set<int> others;
  for (int id = 1; id <= 3; ++id) {
    if (id != old_leader) others.insert(id);
  }
  c.Signal(old_leader, SIGSTOP);
  // While the follower still follows the paused leader, the write goes into
  // that leader's socket and is answered DEADLINE_EXCEEDED ("outcome
  // unknown") once the new leader's first entry is applied. (If the
  // follower already follows the new leader, it is applied and answered OK;
  // if it follows nobody, UNAVAILABLE.) Either way it is answered before
  // "fresh" is written.
  const v1::ErrorCode stale = SetNode(c.tree(follower), "/k", "stale", absl::Seconds(15));
  EXPECT_TRUE(stale == v1::DEADLINE_EXCEEDED || stale == v1::OK || stale == v1::UNAVAILABLE)
      << stale << Logs(c);
  const int new_leader = c.WaitForLeader(absl::Seconds(20), others);
  ASSERT_NE(new_leader, 0) << Logs(c);
  uint64_t fresh = 0;
  ASSERT_EQ(SetNode(c.tree(new_leader), "/k", "fresh", absl::Seconds(5), &fresh), v1::OK);
  c.Signal(old_leader, SIGCONT);
  // The old leader reads its socket, learns the new term and catches up.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto st = c.Status(old_leader);
        return st.ok() && st->leader_id() == static_cast<uint64_t>(new_leader) &&
               st->applied_index() >= fresh;
      },
      absl::Seconds(20)))
      << Logs(c);
  // Acknowledged after anything the old leader sent on resuming.
  uint64_t marker = 0;
  ASSERT_EQ(CreateNode(c.tree(new_leader), "/marker", "", absl::Seconds(5), &marker), v1::OK);
  ASSERT_TRUE(c.WaitForApplied(marker, absl::Seconds(20))) << Logs(c);
  std::string data;
  ASSERT_EQ(GetNode(c.tree(new_leader), "/k", &data), v1::OK);
  EXPECT_EQ(data, "fresh") << Logs(c);
}

TEST(ClusterE2ETest, SecondProcessOnSameDataDirIsRefused) {
  TestCluster::Options o;
  o.size = 1;
  TestCluster c(o);
  ASSERT_TRUE(c.StartAll().ok()) << Logs(c);
  testing::Subprocess::Options po;
  po.binary = SYNOD_BINARY_FOR_TEST;
  po.args = {"--id=1", "--data_dir=" + c.data_dir(1), "--client_addr=127.0.0.1:1",
             "--peer_addr=127.0.0.1:2"};
  po.log_path = c.data_dir(1) + "/../second.log";
  auto second = testing::Subprocess::Start(po);
  ASSERT_TRUE(second.ok());
  auto status = second->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(testing::DescribeWaitStatus(*status), "exit 1");
  EXPECT_TRUE(c.Running(1));
  std::ifstream log(po.log_path);
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("in use by another synod process"), std::string::npos) << text.str();

  // Stopped, the data dir still refuses another member id.
  EXPECT_EQ(c.Stop(1), "exit 0");
  po.args = {"--id=2", "--data_dir=" + c.data_dir(1), "--initial_cluster=2=127.0.0.1:3"};
  po.log_path = c.data_dir(1) + "/../third.log";
  auto third = testing::Subprocess::Start(po);
  ASSERT_TRUE(third.ok());
  status = third->Wait(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(testing::DescribeWaitStatus(*status), "exit 1");
  std::ifstream log3(po.log_path);
  std::stringstream text3;
  text3 << log3.rdbuf();
  EXPECT_NE(text3.str().find("belongs to"), std::string::npos) << text3.str();
}

}  // namespace
}  // namespace synod::e2e
