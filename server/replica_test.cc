// In-process tests of a whole single-replica synod: start, serve, stop
// cleanly, restart on the same data (also from a RocksDB state older than
// the snapshot the log starts after), refuse a mismatched identity.
#include "server/replica.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/replica_testing.h"
#include "synod/v1/cluster.grpc.pb.h"
#include "synod/v1/tree.grpc.pb.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait.h"

namespace synod::server {
namespace {

using ::synod::testing::TempDir;
using ::synod::testing::WaitUntil;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  return ctx;
}

class ReplicaTest : public ::testing::Test {
 protected:
  ReplicaTest() : options_(SingleReplicaOptions(dir_)) { options_.snapshot_threshold = 50; }

  void Start() {
    auto replica = Replica::Start(options_);
    ASSERT_TRUE(replica.ok()) << replica.status();
    replica_ = *std::move(replica);
    auto channel = grpc::CreateChannel(options_.client_addr, grpc::InsecureChannelCredentials());
    tree_ = v1::Tree::NewStub(channel);
    cluster_ = v1::Cluster::NewStub(channel);
    ASSERT_TRUE(WaitUntil(
        [&] {
          v1::StatusResponse st;
          return cluster_->Status(Ctx().get(), v1::StatusRequest(), &st).ok() &&
                 st.role() == v1::ROLE_LEADER;
        },
        absl::Seconds(10)));
  }

  grpc::Status Create(const std::string& path, const std::string& data) {
    v1::CreateRequest req;
    req.mutable_op()->set_path(path);
    req.mutable_op()->set_data(data);
    v1::CreateResponse resp;
    return tree_->Create(Ctx().get(), req, &resp);
  }

  grpc::Status Get(const std::string& path, std::string* data) {
    v1::GetRequest req;
    req.set_path(path);
    v1::GetResponse resp;
    grpc::Status s = tree_->Get(Ctx().get(), req, &resp);
    *data = resp.data();
    return s;
  }

  // Writes /b/<i> until the log was compacted past `past` (bounded); the
  // number written.
  int WriteUntilCompactedPast(uint64_t past) {
    v1::StatusResponse st;
    int written = 0;
    for (; written < 3000; ++written) {
      EXPECT_TRUE(Create(absl::StrCat("/b/", written), absl::StrCat(written)).ok());
      if (written % 20 == 19 && cluster_->Status(Ctx().get(), v1::StatusRequest(), &st).ok() &&
          st.log_first_index() > past + 1) {
        break;
      }
    }
    EXPECT_GT(st.log_first_index(), past + 1) << "the log was never compacted past " << past;
    return written;
  }

  void Stop() {
    replica_->Shutdown();
    replica_.reset();
  }

  TempDir dir_;
  ReplicaOptions options_;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<v1::Tree::Stub> tree_;
  std::unique_ptr<v1::Cluster::Stub> cluster_;
};

TEST_F(ReplicaTest, ServesAndKeepsDataAcrossRestarts) {
  Start();
  ASSERT_TRUE(Create("/a", "1").ok());
  // Snapshots are written in the background, each at the index applied
  // when it runs; the log is compacted once a second one exists. Write
  // until that happened (bounded).
  v1::StatusResponse before;
  int written = 0;
  for (; written < 3000; ++written) {
    ASSERT_TRUE(Create(absl::StrCat("/a/", written), absl::StrCat(written)).ok());
    if (written % 20 == 19 && cluster_->Status(Ctx().get(), v1::StatusRequest(), &before).ok() &&
        before.snapshot_index() > 1) {
      break;
    }
  }
  ASSERT_GT(before.snapshot_index(), 1u) << "the log was never compacted";
  std::string data;
  ASSERT_TRUE(Get("/a/7", &data).ok());
  EXPECT_EQ(data, "7");
  ASSERT_TRUE(cluster_->Status(Ctx().get(), v1::StatusRequest(), &before).ok());
  EXPECT_EQ(before.log_first_index(), before.snapshot_index() + 1);
  ASSERT_EQ(before.members_size(), 1);
  EXPECT_EQ(before.members(0).member().client_addr(), options_.client_addr);

  replica_->Shutdown();
  replica_.reset();
  Start();
  const std::string last = absl::StrCat("/a/", written);
  ASSERT_TRUE(Get(last, &data).ok()) << last;
  EXPECT_EQ(data, absl::StrCat(written));
  v1::StatusResponse after;
  ASSERT_TRUE(cluster_->Status(Ctx().get(), v1::StatusRequest(), &after).ok());
  EXPECT_EQ(after.digest(), before.digest());
  EXPECT_EQ(Create("/a/0", "again").error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

// The replica's RocksDB state is not synced (the log is its WAL), so after
// a crash it may be older than the snapshot the log was compacted to. Here
// it is put back to such a state (a copy of db/ taken at index A); the log
// now starts after a snapshot S > A. Start-up must rebuild the state from
// snapshot file S and replay the log on top, never serve the stale state.
TEST_F(ReplicaTest, RestartsFromTheSnapshotWhenTheStateIsOlderThanTheLogsStart) {
  Start();
  ASSERT_TRUE(Create("/b", "").ok());
  v1::StatusResponse stale;
  ASSERT_TRUE(cluster_->Status(Ctx().get(), v1::StatusRequest(), &stale).ok());
  Stop();
  const std::string db = options_.data_dir + "/db";
  std::filesystem::copy(db, dir_.Sub("stale-db"), std::filesystem::copy_options::recursive);

  Start();
  const int written = WriteUntilCompactedPast(stale.applied_index());
  // After the log's snapshot: only the log holds these.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Create(absl::StrCat("/after-", i), "").ok());
  v1::StatusResponse before;
  ASSERT_TRUE(cluster_->Status(Ctx().get(), v1::StatusRequest(), &before).ok());
  Stop();

  std::filesystem::remove_all(db);
  std::filesystem::copy(dir_.Sub("stale-db"), db, std::filesystem::copy_options::recursive);
  Start();
  std::string data;
  // /b/0 is only in the snapshot (the log starts after it), /after-4 only
  // in the log.
  ASSERT_TRUE(Get("/b/0", &data).ok()) << "the stale state was served";
  EXPECT_EQ(data, "0");
  ASSERT_TRUE(Get(absl::StrCat("/b/", written), &data).ok());
  ASSERT_TRUE(Get("/after-4", &data).ok());
  v1::StatusResponse after;
  ASSERT_TRUE(cluster_->Status(Ctx().get(), v1::StatusRequest(), &after).ok());
  EXPECT_GE(after.applied_index(), before.applied_index());
  EXPECT_EQ(Create("/b/0", "again").error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

// The same stale state with the snapshot file damaged: the state cannot be
// rebuilt, so the replica refuses to start (DATA_LOSS).
TEST_F(ReplicaTest, RefusesToStartWhenTheSnapshotItNeedsIsDamaged) {
  Start();
  ASSERT_TRUE(Create("/b", "").ok());
  v1::StatusResponse stale;
  ASSERT_TRUE(cluster_->Status(Ctx().get(), v1::StatusRequest(), &stale).ok());
  Stop();
  const std::string db = options_.data_dir + "/db";
  std::filesystem::copy(db, dir_.Sub("stale-db"), std::filesystem::copy_options::recursive);
  Start();
  WriteUntilCompactedPast(stale.applied_index());
  v1::StatusResponse before;
  ASSERT_TRUE(cluster_->Status(Ctx().get(), v1::StatusRequest(), &before).ok());
  Stop();

  std::filesystem::remove_all(db);
  std::filesystem::copy(dir_.Sub("stale-db"), db, std::filesystem::copy_options::recursive);
  char name[64];
  std::snprintf(name, sizeof(name), "/snapshots/snap-%020llu.snap",
                static_cast<unsigned long long>(before.snapshot_index()));
  const std::string snapshot = options_.data_dir + name;
  ASSERT_TRUE(std::filesystem::exists(snapshot)) << snapshot;
  {
    std::fstream f(snapshot, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(100);
    const char byte = static_cast<char>(f.get() ^ 0xff);
    f.seekp(100);
    f.put(byte);
  }
  auto replica = Replica::Start(options_);
  ASSERT_FALSE(replica.ok());
  EXPECT_EQ(replica.status().code(), absl::StatusCode::kDataLoss) << replica.status();
}

TEST_F(ReplicaTest, RequestsAfterShutdownAreRefused) {
  Start();
  ASSERT_TRUE(Create("/x", "").ok());
  replica_->Shutdown();
  std::string data;
  grpc::Status s = Get("/x", &data);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ReplicaTest, RefusesAnotherMemberIdOnTheSameData) {
  Start();
  replica_->Shutdown();
  replica_.reset();
  options_.id = 2;
  options_.initial_cluster = absl::StrCat("2=", options_.peer_addr, "/", options_.client_addr);
  auto other = Replica::Start(options_);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("belongs to"), absl::string_view::npos) << other.status();
}

}  // namespace
}  // namespace synod::server
