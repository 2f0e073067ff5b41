// synod::Client against FakeCluster: tree operations, error mapping,
// routing, retries with backoff within the deadline, NOT_LEADER redirects,
// exactly-once retries, read-your-writes, discovery, async calls, admin.
#include "synod/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "synod/v1/tree.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod {
namespace {

using client::testing::FakeCluster;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;

Client::Options OptionsFor(const FakeCluster& cluster) {
  return client::testing::FakeClientOptions(cluster);
}

std::unique_ptr<Client> Connect(Client::Options o) {
  return client::testing::ConnectOrDie(std::move(o));
}

template <typename Message>
Message LastRequest(const FakeCluster& cluster, const std::string& method) {
  std::vector<std::string> all = cluster.requests(method);
  Message m;
  if (!all.empty()) m.ParseFromString(all.back());
  return m;
}

TEST(ErrorCodes, NamesRoundTripAndMapToCanonicalCodes) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kTooManyWatches); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    EXPECT_EQ(ErrorCodeFromName(ErrorCodeName(code)), code) << i;
  }
  EXPECT_EQ(ErrorCodeName(ErrorCode::kBadVersion), "BAD_VERSION");
  EXPECT_EQ(ErrorCodeFromName("NOPE"), std::nullopt);
  EXPECT_EQ(StatusCodeFor(ErrorCode::kBadVersion), absl::StatusCode::kAborted);
  EXPECT_EQ(StatusCodeFor(ErrorCode::kNotLeader), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeFor(ErrorCode::kNoNode), absl::StatusCode::kNotFound);
  EXPECT_EQ(StatusCodeFor(ErrorCode::kCompacted), absl::StatusCode::kOutOfRange);

  absl::Status s = SynodError(ErrorCode::kBadVersion, "expected 3");
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(), "BAD_VERSION: expected 3");
  EXPECT_EQ(ErrorCodeOf(s), ErrorCode::kBadVersion);
  EXPECT_EQ(ErrorCodeOf(absl::OkStatus()), ErrorCode::kOk);
  EXPECT_EQ(ErrorCodeOf(absl::UnavailableError("x")), ErrorCode::kUnavailable);
  EXPECT_EQ(ErrorCodeOf(absl::NotFoundError("x")), ErrorCode::kUnknown);
  EXPECT_TRUE(SynodError(ErrorCode::kOk, "").ok());
}

TEST(Connect, RejectsBadOptions) {
  Client::Options o;
  EXPECT_EQ(ErrorCodeOf(Client::Connect(o).status()), ErrorCode::kInvalidArgument);
  o.endpoints = {"nocolon"};
  EXPECT_EQ(ErrorCodeOf(Client::Connect(o).status()), ErrorCode::kInvalidArgument);
  o.endpoints = {"127.0.0.1:1"};
  o.request_timeout = absl::ZeroDuration();
  EXPECT_EQ(ErrorCodeOf(Client::Connect(o).status()), ErrorCode::kInvalidArgument);
}

// Every test of tree semantics runs with each way a server may report
// errors: the client must recover the Synod code from all of them.
class TreeTest : public ::testing::TestWithParam<FakeCluster::ErrorStyle> {
 protected:
  static FakeCluster::Options ClusterOptions() {
    FakeCluster::Options o;
    o.errors = GetParam();
    return o;
  }
  FakeCluster cluster_{ClusterOptions()};
  std::unique_ptr<Client> client_ = Connect(OptionsFor(cluster_));
};

TEST_P(TreeTest, CreateGetSetDelete) {
  absl::StatusOr<CreateResult> created = client_->Create("/app", "v0");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->path, "/app");
  EXPECT_EQ(created->stat.version, 0);
  EXPECT_GT(created->revision, 0u);

  absl::StatusOr<GetResult> got = client_->Get("/app");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->data, "v0");
  EXPECT_EQ(got->stat.czxid, created->stat.czxid);

  absl::StatusOr<SetResult> set = client_->Set("/app", "v1", 0);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->stat.version, 1);

  absl::StatusOr<SetResult> stale = client_->Set("/app", "v2", 0);
  EXPECT_EQ(ErrorCodeOf(stale.status()), ErrorCode::kBadVersion) << stale.status();
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(stale.status().message(), HasSubstr("BAD_VERSION"));

  EXPECT_EQ(ErrorCodeOf(client_->Create("/app", "").status()), ErrorCode::kNodeExists);
  EXPECT_EQ(ErrorCodeOf(client_->Get("/nope").status()), ErrorCode::kNoNode);
  EXPECT_EQ(ErrorCodeOf(client_->Get("bad//path").status()), ErrorCode::kInvalidPath);
  EXPECT_EQ(ErrorCodeOf(client_->Create("/app/x/y", "").status()), ErrorCode::kNoNode);

  absl::StatusOr<ExistsResult> ex = client_->Exists("/app");
  ASSERT_TRUE(ex.ok());
  EXPECT_TRUE(ex->exists);
  EXPECT_EQ(ex->stat.version, 1);
  ex = client_->Exists("/nope");
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_FALSE(ex->exists);

  ASSERT_TRUE(client_->Create("/app/child", "").ok());
  EXPECT_EQ(ErrorCodeOf(client_->Delete("/app").status()), ErrorCode::kNotEmpty);
  EXPECT_EQ(ErrorCodeOf(client_->Delete("/app/child", 7).status()), ErrorCode::kBadVersion);
  EXPECT_TRUE(client_->Delete("/app/child", 0).ok());
  EXPECT_TRUE(client_->Delete("/app").ok());
  EXPECT_EQ(ErrorCodeOf(client_->Delete("/app").status()), ErrorCode::kNoNode);
}

TEST_P(TreeTest, SequentialAndEphemeralCreate) {
  ASSERT_TRUE(client_->Create("/q", "").ok());
  absl::StatusOr<CreateResult> a =
      client_->Create("/q/item-", "a", {CreateMode::kPersistentSequential});
  absl::StatusOr<CreateResult> b =
      client_->Create("/q/item-", "b", {CreateMode::kEphemeralSequential});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->path, "/q/item-0000000000");
  EXPECT_EQ(b->path, "/q/item-0000000001");
  EXPECT_NE(b->stat.ephemeral_owner, 0u);
  EXPECT_EQ(b->stat.ephemeral_owner, client_->session_id());
}

TEST_P(TreeTest, GetChildrenAllPagesOrLimited) {
  ASSERT_TRUE(client_->Create("/p", "").ok());
  for (const char* n : {"e", "a", "d", "b", "c"}) {
    ASSERT_TRUE(client_->Create(std::string("/p/") + n, n).ok());
  }
  absl::StatusOr<ChildrenResult> all = client_->GetChildren("/p");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(all->children, ElementsAre("a", "b", "c", "d", "e"));
  EXPECT_TRUE(all->next_page_token.empty());
  EXPECT_EQ(all->stat.num_children, 5);

  ChildrenOptions limited;
  limited.limit = 3;
  limited.include_stat = true;
  absl::StatusOr<ChildrenResult> first = client_->GetChildren("/p", limited);
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(first->children, ElementsAre("a", "b", "c"));
  EXPECT_THAT(first->child_stats, SizeIs(3));
  ASSERT_FALSE(first->next_page_token.empty());
  limited.page_token = first->next_page_token;
  absl::StatusOr<ChildrenResult> rest = client_->GetChildren("/p", limited);
  ASSERT_TRUE(rest.ok());
  EXPECT_THAT(rest->children, ElementsAre("d", "e"));
  EXPECT_TRUE(rest->next_page_token.empty());
}

TEST_P(TreeTest, MultiIsAllOrNothingAndNamesTheFailingOp) {
  ASSERT_TRUE(client_->Create("/m", "0").ok());
  absl::StatusOr<MultiResult> ok =
      client_->Multi({Op::Check("/m", 0), Op::Create("/m/a", "1"), Op::Set("/m", "x", 0)});
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_THAT(ok->results, SizeIs(3));
  EXPECT_EQ(ok->results[1].path, "/m/a");
  EXPECT_EQ(ok->results[2].stat.version, 1);

  absl::StatusOr<MultiResult> bad =
      client_->Multi({Op::Create("/m/b", ""), Op::Set("/m", "y", 0), Op::Delete("/m/a")});
  EXPECT_EQ(ErrorCodeOf(bad.status()), ErrorCode::kBadVersion) << bad.status();
  if (GetParam() == FakeCluster::ErrorStyle::kHeader) {
    // Only a reply that arrives with its body carries the per-op results.
    EXPECT_THAT(bad.status().message(), HasSubstr("op 1 (set /m)"));
  }
  EXPECT_EQ(ErrorCodeOf(client_->Get("/m/b").status()), ErrorCode::kNoNode);
  EXPECT_TRUE(client_->Get("/m/a").ok());
}

TEST_P(TreeTest, HistoryAndReadsAtVersionOrRevision) {
  absl::StatusOr<CreateResult> c = client_->Create("/h", "one");
  ASSERT_TRUE(c.ok());
  absl::StatusOr<SetResult> s1 = client_->Set("/h", "two");
  absl::StatusOr<SetResult> s2 = client_->Set("/h", "three");
  ASSERT_TRUE(s1.ok() && s2.ok());

  absl::StatusOr<HistoryResult> h = client_->History("/h");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_THAT(h->versions, SizeIs(3));
  EXPECT_EQ(h->versions[0].data, "three");
  EXPECT_EQ(h->versions[2].data, "one");

  GetOptions at_version;
  at_version.version = 1;
  absl::StatusOr<GetResult> v1 = client_->Get("/h", at_version);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->data, "two");

  GetOptions at_revision;
  at_revision.revision = c->stat.czxid;
  absl::StatusOr<GetResult> r = client_->Get("/h", at_revision);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data, "one");

  cluster_.Compact(s2->stat.mzxid);
  EXPECT_EQ(ErrorCodeOf(client_->Get("/h", at_revision).status()), ErrorCode::kCompacted);

  absl::StatusOr<uint64_t> synced = client_->Sync();
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_GE(*synced, s2->stat.mzxid);
}

// Every error reads "CODE: detail"; with no detail from the server, the
// detail is the path the call was about.
TEST_P(TreeTest, ErrorsNameTheirCodeAndPath) {
  ASSERT_TRUE(client_->Create("/named", "").ok());
  ASSERT_TRUE(client_->Create("/named/kid", "").ok());
  const absl::Status no_node = client_->Get("/named/none").status();
  const absl::Status bad_version = client_->Set("/named", "x", 5).status();
  const absl::Status not_empty = client_->Delete("/named").status();
  const absl::Status exists = client_->Create("/named", "").status();
  const absl::Status listing = client_->GetChildren("/none").status();
  EXPECT_EQ(ErrorCodeOf(no_node), ErrorCode::kNoNode);
  EXPECT_EQ(ErrorCodeOf(bad_version), ErrorCode::kBadVersion);
  EXPECT_EQ(ErrorCodeOf(not_empty), ErrorCode::kNotEmpty);
  EXPECT_EQ(ErrorCodeOf(exists), ErrorCode::kNodeExists);
  EXPECT_EQ(ErrorCodeOf(listing), ErrorCode::kNoNode);
  EXPECT_EQ(bad_version.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(bad_version.message()), StartsWith("BAD_VERSION: "));
  if (GetParam() == FakeCluster::ErrorStyle::kCodeOnly) {
    EXPECT_EQ(no_node.message(), "NO_NODE: /named/none");
    EXPECT_EQ(bad_version.message(), "BAD_VERSION: /named");
    EXPECT_EQ(not_empty.message(), "NOT_EMPTY: /named");
    EXPECT_EQ(exists.message(), "NODE_EXISTS: /named");
    EXPECT_EQ(listing.message(), "NO_NODE: /none");
  }
}

INSTANTIATE_TEST_SUITE_P(ErrorStyles, TreeTest,
                         ::testing::Values(FakeCluster::ErrorStyle::kDetails,
                                           FakeCluster::ErrorStyle::kHeader,
                                           FakeCluster::ErrorStyle::kMessageOnly,
                                           FakeCluster::ErrorStyle::kCodeOnly));

TEST(Routing, RetriesUnavailableOnAnotherReplica) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  ASSERT_TRUE(client->Create("/r", "x").ok());
  cluster.FailNext(1, "Get", 1, ErrorCode::kUnavailable);
  cluster.FailNext(2, "Get", 1, ErrorCode::kUnavailable);
  const int before = cluster.calls(3, "Get");
  absl::StatusOr<GetResult> got = client->Get("/r");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->data, "x");
  EXPECT_EQ(cluster.calls(3, "Get"), before + 1);
}

TEST(Routing, GivesUpAtTheDeadlineWithJitteredBackoff) {
  FakeCluster cluster;
  Client::Options o = OptionsFor(cluster);
  o.initial_backoff = absl::Milliseconds(10);
  o.max_backoff = absl::Milliseconds(80);
  auto client = Connect(o);
  for (uint64_t m = 1; m <= 3; ++m) cluster.FailNext(m, "Get", 1000, ErrorCode::kUnavailable);
  const absl::Time start = absl::Now();
  absl::StatusOr<GetResult> got =
      client->Get("/x", {}, CallOptions::Timeout(absl::Milliseconds(400)));
  const absl::Duration took = absl::Now() - start;
  // A read that nobody could serve: UNAVAILABLE (a write would say
  // DEADLINE_EXCEEDED: its outcome would be unknown).
  EXPECT_EQ(ErrorCodeOf(got.status()), ErrorCode::kUnavailable) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("gave up at the deadline"));
  // Never past the deadline (plus scheduling slack), and not a busy loop:
  // backoff 10, 20, 40, 80, 80... ms (each drawn from [d/2, d]) allows at
  // most ~16 attempts in 400 ms.
  EXPECT_LE(took, absl::Milliseconds(400) + absl::Milliseconds(150));
  int attempts = 0;
  for (uint64_t m = 1; m <= 3; ++m) attempts += cluster.calls(m, "Get");
  EXPECT_GE(attempts, 3);
  EXPECT_LE(attempts, 20);

  // A write that kept failing may have happened: DEADLINE_EXCEEDED.
  ASSERT_TRUE(client->EnsureSession().ok());
  for (uint64_t m = 1; m <= 3; ++m) cluster.FailNext(m, "Set", 1000, ErrorCode::kUnavailable);
  absl::StatusOr<SetResult> set =
      client->Set("/x", "v", -1, CallOptions::Timeout(absl::Milliseconds(200)));
  EXPECT_EQ(ErrorCodeOf(set.status()), ErrorCode::kDeadlineExceeded) << set.status();
}

TEST(Routing, NotLeaderRedirectsToTheNamedLeader) {
  FakeCluster::Options co;
  co.forward_writes = false;
  co.leader = 3;
  FakeCluster cluster(co);
  auto client = Connect(OptionsFor(cluster));
  // Discovery has told the client which address is member 3 once it
  // answered; the first write may go elsewhere and be redirected.
  ASSERT_TRUE(
      testing::WaitUntil([&] { return client->endpoints().size() == 3; }, absl::Seconds(5)));
  ASSERT_TRUE(client->Create("/w", "1").ok());
  ASSERT_TRUE(client->Set("/w", "2").ok());
  EXPECT_GE(cluster.calls(3, "Set"), 1);
  // The leader is now known: writes go straight there.
  const int misses = cluster.calls(1, "Set") + cluster.calls(2, "Set");
  ASSERT_TRUE(client->Set("/w", "3").ok());
  EXPECT_EQ(cluster.calls(1, "Set") + cluster.calls(2, "Set"), misses);

  // A leader change: the old leader redirects to the new one.
  cluster.SetLeader(2);
  ASSERT_TRUE(client->Set("/w", "4").ok());
  EXPECT_EQ(*cluster.data("/w"), "4");
  EXPECT_GE(cluster.calls(2, "Set"), 1);
}

TEST(Routing, WritesWithoutSessionRetryOnlyWhenNotProposed) {
  FakeCluster cluster;
  Client::Options o = OptionsFor(cluster);
  o.exactly_once_writes = false;
  auto client = Connect(o);
  ASSERT_TRUE(client->Create("/s", "0").ok());
  EXPECT_EQ(client->session_id(), 0u);

  // UNAVAILABLE may hide an applied write: surfaced, not retried.
  cluster.FailNext(1, "Set", 1, ErrorCode::kUnavailable);
  EXPECT_EQ(ErrorCodeOf(client->Set("/s", "1").status()), ErrorCode::kUnavailable);
  EXPECT_EQ(cluster.calls(1, "Set"), 1);

  // NOT_LEADER means not proposed: retried.
  cluster.FailNext(1, "Set", 1, ErrorCode::kNotLeader);
  EXPECT_TRUE(client->Set("/s", "2").ok());
  EXPECT_EQ(*cluster.data("/s"), "2");
}

TEST(Routing, ExactlyOnceRetryAfterALostReply) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  ASSERT_TRUE(client->Create("/e", "0").ok());
  const uint64_t session = client->session_id();
  ASSERT_NE(session, 0u);
  const int applied = cluster.applied_writes();

  // Applied, but the reply says UNAVAILABLE (leader died after commit).
  cluster.FailAfterApply(1, "Create", 1, ErrorCode::kUnavailable);
  absl::StatusOr<CreateResult> c =
      client->Create("/e/seq-", "x", {CreateMode::kPersistentSequential});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->path, "/e/seq-0000000000");
  EXPECT_EQ(cluster.applied_writes(), applied + 1);

  // Both attempts carried the same (session, sequence).
  std::vector<std::string> reqs = cluster.requests("Create");
  ASSERT_GE(reqs.size(), 2u);
  v1::CreateRequest a, b;
  a.ParseFromString(reqs[reqs.size() - 2]);
  b.ParseFromString(reqs.back());
  EXPECT_EQ(a.write().session_id(), session);
  EXPECT_EQ(a.write().sequence(), b.write().sequence());
  EXPECT_EQ(a.write().session_id(), b.write().session_id());

  // The next write gets the next sequence.
  ASSERT_TRUE(client->Set("/e", "1").ok());
  v1::SetRequest s = LastRequest<v1::SetRequest>(cluster, "Set");
  EXPECT_EQ(s.write().sequence(), b.write().sequence() + 1);
}

TEST(Routing, ServerReportedDeadlineIsRetriedOnlyWhenSafe) {
  FakeCluster cluster;
  auto with_session = Connect(OptionsFor(cluster));
  ASSERT_TRUE(with_session->Create("/d", "0").ok());
  // A replica that could not finish (say, forwarding to a dead leader)
  // answers DEADLINE_EXCEEDED: a session write is retried (exactly-once)...
  cluster.FailNext(1, "Set", 1, ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(with_session->Set("/d", "1").ok());
  EXPECT_EQ(*cluster.data("/d"), "1");
  // ...a write without a session is not: its outcome is unknown.
  Client::Options o = OptionsFor(cluster);
  o.exactly_once_writes = false;
  auto plain = Connect(o);
  cluster.FailNext(1, "Set", 1, ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(ErrorCodeOf(plain->Set("/d", "2").status()), ErrorCode::kDeadlineExceeded);
}

TEST(Routing, AttemptTimeoutMovesToAnotherReplica) {
  FakeCluster cluster;
  Client::Options o = OptionsFor(cluster);
  o.attempt_timeout = absl::Milliseconds(200);
  auto client = Connect(o);
  ASSERT_TRUE(client->Create("/t", "x").ok());
  cluster.Hang(1, "Get");
  absl::StatusOr<GetResult> got = client->Get("/t");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->data, "x");
  cluster.ReleaseHangs();
}

TEST(Routing, SurvivesAStoppedReplicaAndFindsItAgain) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  ASSERT_TRUE(client->Create("/f", "x").ok());
  cluster.Stop(1);
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<GetResult> got = client->Get("/f");
    ASSERT_TRUE(got.ok()) << got.status();
  }
  cluster.Restart(1);
  cluster.Stop(2);
  cluster.Stop(3);
  absl::StatusOr<GetResult> got = client->Get("/f");
  ASSERT_TRUE(got.ok()) << got.status();
}

TEST(Routing, DiscoversMembersFromOneEndpoint) {
  FakeCluster cluster;
  Client::Options o = OptionsFor(cluster);
  o.endpoints = {cluster.endpoint(2)};
  auto client = Connect(o);
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        std::vector<std::string> eps = client->endpoints();
        std::sort(eps.begin(), eps.end());
        std::vector<std::string> want = cluster.endpoints();
        std::sort(want.begin(), want.end());
        return eps == want;
      },
      absl::Seconds(5)));
  // With its seed gone the client still reaches the cluster.
  cluster.Stop(2);
  EXPECT_TRUE(client->Create("/d", "").ok());
}

// A replica that refuses connections never saw the request: even a
// membership change (no exactly-once) goes on to the next replica, as when
// an operator removes a dead member whose address is listed first.
TEST(Routing, ChangesThatCouldNotConnectGoToTheNextReplica) {
  FakeCluster cluster;
  cluster.Stop(1);  // the client's first endpoint, and the leader the headers name
  auto client = Connect(OptionsFor(cluster));
  absl::StatusOr<std::vector<Member>> added =
      client->MemberAdd(4, "127.0.0.1:17104", "127.0.0.1:17004");
  ASSERT_TRUE(added.ok()) << added.status();
  absl::StatusOr<std::vector<Member>> promoted = client->MemberPromote(4);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  absl::StatusOr<std::vector<Member>> removed = client->MemberRemove(4);
  ASSERT_TRUE(removed.ok()) << removed.status();
  absl::Status transferred = client->TransferLeader(2);
  ASSERT_TRUE(transferred.ok()) << transferred;
}

// RESOURCE_EXHAUSTED from a replica's admission control means the request
// was refused before it took effect (server/request_tracker.h): it is
// retried with backoff within the deadline, a write without a session too.
TEST(Routing, OverloadIsRetriedWithBackoffUntilTheDeadline) {
  for (bool exactly_once : {true, false}) {
    SCOPED_TRACE(exactly_once ? "with a session" : "without a session");
    FakeCluster cluster;
    Client::Options o = OptionsFor(cluster);
    o.exactly_once_writes = exactly_once;
    auto client = Connect(o);
    ASSERT_TRUE(client->Create("/o", "0").ok());
    const int applied = cluster.applied_writes();
    for (uint64_t m = 1; m <= 3; ++m) {
      cluster.FailNext(m, "Set", 3, ErrorCode::kResourceExhausted);
      cluster.FailNext(m, "Get", 3, ErrorCode::kResourceExhausted);
    }
    absl::StatusOr<SetResult> set = client->Set("/o", "1");
    ASSERT_TRUE(set.ok()) << set.status();
    EXPECT_EQ(*cluster.data("/o"), "1");
    EXPECT_EQ(cluster.applied_writes(), applied + 1);
    absl::StatusOr<GetResult> got = client->Get("/o");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->data, "1");

    // Overloaded for good: after a few attempts spaced by the backoff (5,
    // 10, 20, 40, 50... ms; not a busy loop) the call gives up at its
    // deadline with the overload error. A read says RESOURCE_EXHAUSTED. So
    // does a write whose every attempt was refused; but on a loaded machine
    // the last attempt may still be on its way at the deadline, and that
    // one may have been applied: DEADLINE_EXCEEDED.
    for (uint64_t m = 1; m <= 3; ++m) {
      cluster.FailNext(m, "Set", 1 << 20, ErrorCode::kResourceExhausted);
      cluster.FailNext(m, "Get", 1 << 20, ErrorCode::kResourceExhausted);
    }
    got = client->Get("/o", {}, CallOptions::Timeout(absl::Seconds(1)));
    EXPECT_EQ(ErrorCodeOf(got.status()), ErrorCode::kResourceExhausted) << got.status();
    EXPECT_THAT(got.status().message(), HasSubstr("gave up at the deadline")) << got.status();
    int before = 0;
    for (uint64_t m = 1; m <= 3; ++m) before += cluster.calls(m, "Set");
    set = client->Set("/o", "2", -1, CallOptions::Timeout(absl::Seconds(1)));
    if (ErrorCodeOf(set.status()) == ErrorCode::kResourceExhausted) {
      EXPECT_THAT(set.status().message(), HasSubstr("gave up at the deadline")) << set.status();
    } else {
      EXPECT_EQ(ErrorCodeOf(set.status()), ErrorCode::kDeadlineExceeded) << set.status();
    }
    int attempts = -before;
    for (uint64_t m = 1; m <= 3; ++m) attempts += cluster.calls(m, "Set");
    EXPECT_GE(attempts, 2);
    EXPECT_LE(attempts, 100);
    EXPECT_EQ(*cluster.data("/o"), "1");
  }
}

// A write that could not reach any replica did not happen: UNAVAILABLE,
// not DEADLINE_EXCEEDED (which says "may have happened"), however slowly
// gRPC reports the refused connections: a request goes to gRPC only on a
// READY channel.
TEST(Routing, AWriteThatReachedNoReplicaIsUnavailable) {
  FakeCluster cluster;
  for (uint64_t m = 1; m <= 3; ++m) cluster.Stop(m);
  for (bool exactly_once : {true, false}) {
    Client::Options o = OptionsFor(cluster);
    o.exactly_once_writes = exactly_once;
    auto client = Connect(o);
    absl::StatusOr<CreateResult> c =
        client->Create("/x", "v", {}, CallOptions::Timeout(absl::Milliseconds(500)));
    EXPECT_EQ(ErrorCodeOf(c.status()), ErrorCode::kUnavailable) << c.status();
    EXPECT_THAT(c.status().message(), HasSubstr("the request was not sent")) << c.status();
  }
}

// Listens on 127.0.0.1 and never speaks: the kernel completes each TCP
// handshake into the backlog, but no HTTP/2 settings ever come back.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return port_ != 0; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A write's outcome is unknown only when something of it could have left
// this process. A replica that accepts TCP but never completes HTTP/2 got
// nothing: UNAVAILABLE, even for a write without a session (which must
// not be retried if it could have been applied). A replica that took the
// request and never answered may have applied it: DEADLINE_EXCEEDED.
TEST(Routing, AWriteIsOutcomeUnknownOnlyIfItCouldHaveBeenSent) {
  SilentListener silent;
  ASSERT_TRUE(silent.ok());
  Client::Options o;
  o.endpoints = {silent.address()};
  o.exactly_once_writes = false;
  o.discover_members = false;
  o.attempt_timeout = absl::Seconds(2);
  auto to_silent = Connect(o);
  absl::StatusOr<CreateResult> c =
      to_silent->Create("/x", "v", {}, CallOptions::Timeout(absl::Milliseconds(700)));
  EXPECT_EQ(ErrorCodeOf(c.status()), ErrorCode::kUnavailable) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("the request was not sent")) << c.status();

  FakeCluster cluster;
  for (uint64_t m = 1; m <= 3; ++m) cluster.Hang(m, "Create");
  Client::Options h = OptionsFor(cluster);
  h.exactly_once_writes = false;
  auto to_hung = Connect(h);
  c = to_hung->Create("/x", "v", {}, CallOptions::Timeout(absl::Milliseconds(700)));
  EXPECT_EQ(ErrorCodeOf(c.status()), ErrorCode::kDeadlineExceeded) << c.status();
  EXPECT_GE(cluster.calls(1, "Create"), 1);
  cluster.ReleaseHangs();
}

// gRPC itself refuses a request above the replica's receive limit (the
// fake keeps gRPC's default of 4 MiB): the caller gets TOO_LARGE with the
// reason, not a bare RESOURCE_EXHAUSTED.
TEST(Errors, ARequestAboveTheReceiveLimitIsTooLarge) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  absl::StatusOr<CreateResult> c = client->Create("/big", std::string(5 << 20, 'x'));
  EXPECT_EQ(ErrorCodeOf(c.status()), ErrorCode::kTooLarge) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("larger than max")) << c.status();
}

// Paths are checked by the server's own rules before anything is sent; a
// path that is not UTF-8 could not even be serialized.
TEST(Paths, BadPathsFailAtOnceWithInvalidPath) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  const CallOptions call = CallOptions::Timeout(absl::Seconds(5));
  const std::string not_utf8 = "/caf\xe9";
  auto code = [](const absl::Status& s) { return ErrorCodeOf(s); };
  EXPECT_EQ(code(client->Get(not_utf8, {}, call).status()), ErrorCode::kInvalidPath);
  EXPECT_EQ(code(client->Create(not_utf8, "", {}, call).status()), ErrorCode::kInvalidPath);
  EXPECT_EQ(code(client->Set(not_utf8, "", -1, call).status()), ErrorCode::kInvalidPath);
  EXPECT_EQ(code(client->Delete(not_utf8, -1, call).status()), ErrorCode::kInvalidPath);
  EXPECT_EQ(code(client->Exists(not_utf8, {}, call).status()), ErrorCode::kInvalidPath);
  EXPECT_EQ(code(client->GetChildren(not_utf8, {}, call).status()), ErrorCode::kInvalidPath);
  EXPECT_EQ(code(client->History(not_utf8, {}, call).status()), ErrorCode::kInvalidPath);
  EXPECT_EQ(code(client->Multi({Op::Create("/ok", ""), Op::Delete(not_utf8)}, call).status()),
            ErrorCode::kInvalidPath);
  EXPECT_EQ(code(client
                     ->Watch(
                         not_utf8, {}, [](const WatchEvent&) {}, nullptr, call)
                     .status()),
            ErrorCode::kInvalidPath);
  absl::Status relative = client->Get("relative", {}, call).status();
  EXPECT_EQ(code(relative), ErrorCode::kInvalidPath);
  EXPECT_THAT(relative.message(), HasSubstr("not absolute"));
  absl::Status bad = client->Get(not_utf8, {}, call).status();
  EXPECT_THAT(bad.message(), HasSubstr("UTF-8"));
  for (const char* method : {"Get", "Create", "Set", "Delete", "Exists", "GetChildren", "History",
                             "Multi", "WatchRequest"}) {
    EXPECT_THAT(cluster.requests(method), SizeIs(0)) << method;
  }
}

TEST(Consistency, ReadsCarryTheHighestRevisionSeen) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  absl::StatusOr<CreateResult> c = client->Create("/ryw", "x");
  ASSERT_TRUE(c.ok());
  EXPECT_GE(client->last_revision(), c->stat.czxid);
  ReadOptions serializable;
  serializable.consistency = Consistency::kSerializable;
  ASSERT_TRUE(client->Exists("/ryw", serializable).ok());
  v1::ExistsRequest e = LastRequest<v1::ExistsRequest>(cluster, "Exists");
  EXPECT_EQ(e.read().consistency(), v1::SERIALIZABLE);
  EXPECT_GE(e.read().min_revision(), c->stat.czxid);

  // An explicit higher floor wins.
  GetOptions g;
  g.read.min_revision = client->last_revision();
  ASSERT_TRUE(client->Get("/ryw", g).ok());
  EXPECT_EQ(LastRequest<v1::GetRequest>(cluster, "Get").read().min_revision(), g.read.min_revision);
}

TEST(Async, CallbacksRunOnTheCallbackThreadAndMayBlock) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  ASSERT_TRUE(client->Create("/a", "").ok());
  constexpr int kCalls = 50;
  std::atomic<int> done{0};
  absl::Notification all;
  const std::thread::id caller = std::this_thread::get_id();
  for (int i = 0; i < kCalls; ++i) {
    client->CreateAsync("/a/n" + std::to_string(i), "v", {}, {},
                        [&](absl::StatusOr<CreateResult> r) {
                          EXPECT_TRUE(r.ok()) << r.status();
                          EXPECT_NE(std::this_thread::get_id(), caller);
                          // A blocking call from a callback completes (no deadlock).
                          EXPECT_TRUE(client->Exists(r->path).ok());
                          if (++done == kCalls) all.Notify();
                        });
  }
  ASSERT_TRUE(all.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::StatusOr<ChildrenResult> kids = client->GetChildren("/a");
  ASSERT_TRUE(kids.ok());
  EXPECT_THAT(kids->children, SizeIs(kCalls));
}

TEST(Async, ShutdownCompletesPendingCallsWithCancelled) {
  FakeCluster cluster;
  Client::Options o = OptionsFor(cluster);
  o.exactly_once_writes = false;
  auto client = Connect(o);
  for (uint64_t m = 1; m <= 3; ++m) cluster.Hang(m, "Get");
  std::atomic<int> cancelled{0};
  for (int i = 0; i < 5; ++i) {
    client->GetAsync("/x", {}, {}, [&](absl::StatusOr<GetResult> r) {
      if (r.status().code() == absl::StatusCode::kCancelled) ++cancelled;
    });
  }
  const absl::Time start = absl::Now();
  client.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(cancelled.load(), 5);
  cluster.ReleaseHangs();
}

TEST(Admin, MembersStatusAndTransfer) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  absl::StatusOr<std::vector<Member>> members = client->MemberList();
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_THAT(*members, SizeIs(3));
  EXPECT_EQ((*members)[1].client_addr, cluster.endpoint(2));

  absl::StatusOr<ReplicaStatus> st = client->GetStatus(cluster.endpoint(2));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->id, 2u);
  EXPECT_EQ(st->role, Role::kFollower);
  EXPECT_EQ(st->leader_id, 1u);

  absl::StatusOr<std::vector<Member>> added =
      client->MemberAdd(4, "127.0.0.1:17104", "127.0.0.1:17004");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_TRUE(added->back().learner);
  EXPECT_EQ(ErrorCodeOf(client->MemberAdd(4, "x:1", "y:1").status()), ErrorCode::kMemberExists);
  ASSERT_TRUE(client->MemberPromote(4).ok());
  ASSERT_TRUE(client->MemberRemove(4).ok());
  EXPECT_EQ(ErrorCodeOf(client->MemberRemove(4).status()), ErrorCode::kMemberNotFound);
  ASSERT_TRUE(client->TransferLeader(3).ok());
  st = client->GetStatus(cluster.endpoint(3));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->role, Role::kLeader);
}

TEST(Admin, SnapshotIsSavedAndChecked) {
  FakeCluster cluster;
  auto client = Connect(OptionsFor(cluster));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client->Create("/snap" + std::to_string(i), std::string(100, 'x')).ok());
  }
  testing::TempDir dir;
  const std::string path = dir.Sub("backup.snap");
  absl::StatusOr<SnapshotInfo> info = client->SaveSnapshot(path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->applied_index, cluster.revision());
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  EXPECT_EQ(bytes.str().size(), info->bytes);
  EXPECT_THAT(bytes.str(), HasSubstr("/snap7="));

  cluster.CorruptNextSnapshot();
  const std::string bad = dir.Sub("bad.snap");
  absl::StatusOr<SnapshotInfo> corrupt = client->SaveSnapshot(bad);
  EXPECT_EQ(ErrorCodeOf(corrupt.status()), ErrorCode::kDataLoss) << corrupt.status();
  EXPECT_FALSE(std::ifstream(bad).good());
}

}  // namespace
}  // namespace synod
