// Exactly-once writes with many in flight (Client::Options::
// max_writes_in_flight) against the fake cluster, which applies them with
// the server's own apply: every write applies once, retries included, and
// each request tells the server the lowest sequence the client still
// waits for. With the default window of one, writes apply in the order
// issued.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "gtest/gtest.h"
#include "synod/client.h"
#include "synod/v1/tree.pb.h"

namespace synod {
namespace {

using client::testing::FakeCluster;

// Issues `n` sequential creates under `parent` at once; returns their
// results in issue order (each OK, or the failure).
std::vector<absl::StatusOr<CreateResult>> CreateMany(Client* client, const std::string& parent,
                                                     int n) {
  absl::Mutex mu;
  std::vector<absl::StatusOr<CreateResult>> results(n, absl::UnknownError("not done"));
  int done = 0;
  for (int i = 0; i < n; ++i) {
    client->CreateAsync(parent + "/n-", std::to_string(i), {CreateMode::kPersistentSequential},
                        CallOptions::Timeout(absl::Seconds(20)),
                        [&, i](absl::StatusOr<CreateResult> r) {
                          absl::MutexLock lock(&mu);
                          results[i] = std::move(r);
                          ++done;
                        });
  }
  absl::MutexLock lock(&mu);
  auto all_done = [&done, n] { return done == n; };
  mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(60));
  return results;
}

Client::Options Window(const FakeCluster& cluster, int window) {
  Client::Options o = client::testing::FakeClientOptions(cluster);
  o.max_writes_in_flight = window;
  return o;
}

TEST(ExactlyOnce, ManyInFlightApplyOnce) {
  FakeCluster cluster;
  auto client = client::testing::ConnectOrDie(Window(cluster, 64));
  ASSERT_TRUE(client->Create("/q", "").ok());
  const int applied = cluster.applied_writes();
  constexpr int kWrites = 300;
  const auto results = CreateMany(client.get(), "/q", kWrites);
  std::vector<std::string> paths;
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    paths.push_back(results[i]->path);
  }
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(std::unique(paths.begin(), paths.end()), paths.end()) << "a name given twice";
  EXPECT_EQ(cluster.applied_writes(), applied + kWrites);
  // Writes overlapped: some request was sent while an earlier write was
  // outstanding, and said so; none claimed a result it did not have.
  bool overlapped = false;
  for (const std::string& bytes : cluster.requests("Create")) {
    v1::CreateRequest req;
    ASSERT_TRUE(req.ParseFromString(bytes));
    ASSERT_LE(req.write().lowest_unacked(), req.write().sequence());
    ASSERT_FALSE(req.write().session_secret().empty());
    if (req.write().lowest_unacked() < req.write().sequence()) overlapped = true;
  }
  EXPECT_TRUE(overlapped);
}

TEST(ExactlyOnce, LostRepliesAmongManyInFlightApplyOnce) {
  FakeCluster cluster;
  auto client = client::testing::ConnectOrDie(Window(cluster, 64));
  ASSERT_TRUE(client->Create("/q", "").ok());
  const int applied = cluster.applied_writes();
  // Every replica loses a few replies after applying (a leader dying
  // after commit): those writes are retried and answered from the
  // session's stored results.
  for (uint64_t m = 1; m <= 3; ++m) cluster.FailAfterApply(m, "Create", 5, ErrorCode::kUnavailable);
  constexpr int kWrites = 100;
  const auto results = CreateMany(client.get(), "/q", kWrites);
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
  }
  EXPECT_EQ(cluster.applied_writes(), applied + kWrites);
  absl::StatusOr<ChildrenResult> children = client->GetChildren("/q");
  ASSERT_TRUE(children.ok()) << children.status();
  EXPECT_EQ(children->children.size(), static_cast<size_t>(kWrites));
}

TEST(ExactlyOnce, TheWindowIsBoundedByWhatASessionKeeps) {
  FakeCluster cluster;
  for (int bad : {0, -1, 1025}) {
    Client::Options o = client::testing::FakeClientOptions(cluster);
    o.max_writes_in_flight = bad;
    absl::StatusOr<std::unique_ptr<Client>> c = Client::Connect(o);
    EXPECT_EQ(ErrorCodeOf(c.status()), ErrorCode::kInvalidArgument) << bad;
  }
  // The default window of one: each write waits for the one before it,
  // so they apply in the order issued (sequential names in issue order).
  auto client = client::testing::ConnectOrDie(client::testing::FakeClientOptions(cluster));
  ASSERT_TRUE(client->Create("/q", "").ok());
  const auto results = CreateMany(client.get(), "/q", 20);
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    if (i > 0) {
      EXPECT_LT(results[i - 1]->path, results[i]->path) << i;
    }
  }
  for (const std::string& bytes : cluster.requests("Create")) {
    v1::CreateRequest req;
    ASSERT_TRUE(req.ParseFromString(bytes));
    EXPECT_EQ(req.write().lowest_unacked(), req.write().sequence());
  }
}

}  // namespace
}  // namespace synod
