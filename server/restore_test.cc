// RestoreMember: a verified backup becomes a data dir whose log starts at
// the backup's revision and whose tree has the backup's digest; damaged
// files and non-empty dirs are refused without changing anything.
#include "server/restore.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "server/cluster_config.h"
#include "storage/data_dir.h"
#include "storage/log_store.h"
#include "storage/rocks_env.h"
#include "storage/rocks_tree_store.h"
#include "storage/snapshot.h"
#include "storage/snapshot_files.h"
#include "storage/tree_test_util.h"
#include "tests/testing/temp_dir.h"

namespace synod::server {
namespace {

namespace st = storage::testing;

constexpr char kCluster[] =
    "1=127.0.0.1:7101/127.0.0.1:7001,2=127.0.0.1:7102/127.0.0.1:7002,"
    "3=127.0.0.1:7103/127.0.0.1:7003";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A source state with nodes, a session with an ephemeral, and history.
    st::RocksHolder holder;
    st::Driver driver(holder.store());
    driver.set_next_index(2);
    for (int i = 0; i < 50; ++i) {
      ASSERT_EQ(driver.Apply(st::CreateCmd("/n" + std::to_string(i), "v")).result.code(), v1::OK);
    }
    ASSERT_EQ(driver.Apply(st::SetCmd("/n1", "v2")).result.code(), v1::OK);
    const uint64_t session = driver.next_index();
    ASSERT_EQ(driver.Apply(st::OpenSessionCmd()).result.code(), v1::OK);
    ASSERT_EQ(driver.Apply(st::CreateCmd("/eph", "e", v1::EPHEMERAL, 0, session)).result.code(),
              v1::OK);
    source_meta_ = holder.store()->meta();
    file_ = dir_.Sub("backup.snap");
    absl::StatusOr<storage::SnapshotInfo> info = holder.store()->WriteSnapshot(file_);
    ASSERT_TRUE(info.ok()) << info.status();
  }

  ReplicaOptions Options(uint64_t id, const std::string& data_dir) {
    ReplicaOptions o;
    o.id = id;
    o.data_dir = data_dir;
    o.initial_cluster = kCluster;
    o.cache_bytes = 8 << 20;
    return o;
  }

  synod::testing::TempDir dir_{"synod-restore-"};
  std::string file_;
  storage::StoreMeta source_meta_;
};

TEST_F(RestoreTest, BuildsAMemberAtTheBackupsRevision) {
  const std::string data = dir_.Sub("member2");
  ASSERT_TRUE(RestoreMember(Options(2, data), file_).ok());
  EXPECT_FALSE(std::filesystem::exists(data + ".restoring"));

  absl::StatusOr<InitialCluster> cluster = ParseInitialCluster(kCluster);
  ASSERT_TRUE(cluster.ok());
  storage::Identity identity;
  identity.cluster_id = cluster->cluster_id;
  identity.member_id = 2;
  absl::StatusOr<std::unique_ptr<storage::DataDir>> dd = storage::DataDir::Open(data, identity);
  ASSERT_TRUE(dd.ok()) << dd.status();
  EXPECT_FALSE((*dd)->created());
  storage::RocksEnv::Options env_options;
  env_options.path = (*dd)->db_path();
  env_options.block_cache_bytes = 8 << 20;
  auto env = storage::RocksEnv::Open(env_options);
  ASSERT_TRUE(env.ok()) << env.status();
  storage::LogStore::Options log_options;
  log_options.dir = (*dd)->raft_log_dir();
  auto log = storage::LogStore::Open(log_options);
  ASSERT_TRUE(log.ok()) << log.status();
  absl::StatusOr<raft::Snapshot> snap = (*log)->GetSnapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->metadata().index(), source_meta_.applied_index);
  EXPECT_EQ(snap->metadata().term(), 1u);
  EXPECT_EQ(snap->metadata().conf_state().voters_size(), 3);
  EXPECT_EQ((*log)->FirstIndex(), source_meta_.applied_index + 1);
  EXPECT_EQ((*log)->hard_state().commit(), source_meta_.applied_index);
  auto store = storage::RocksTreeStore::Open(env->get());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->meta(), source_meta_);
  EXPECT_EQ(st::RecomputeDigest(store->get()), source_meta_.digest);
  absl::StatusOr<storage::NodeResult> eph = (*store)->Get("/eph");
  ASSERT_TRUE(eph.ok());
  EXPECT_EQ(eph->code, v1::OK);
  EXPECT_NE(eph->stat.ephemeral_owner, 0u);
  // The file is kept as the log's snapshot (sent to members that lag).
  const storage::SnapshotFiles files((*dd)->snapshot_dir());
  EXPECT_EQ(ReadAll(files.PathFor(snap->metadata().index())), ReadAll(file_));
}

TEST_F(RestoreTest, SameFileAgainStartsAsIsOtherDirsAreRefused) {
  const std::string data = dir_.Sub("member1");
  ASSERT_TRUE(RestoreMember(Options(1, data), file_).ok());
  const std::string marker = ReadAll(data + "/RESTORED_FROM");
  ASSERT_FALSE(marker.empty());
  EXPECT_TRUE(RestoreMember(Options(1, data), file_).ok());
  EXPECT_EQ(ReadAll(data + "/RESTORED_FROM"), marker);

  const std::string other = dir_.Sub("other");
  std::filesystem::create_directories(other);
  WriteAll(other + "/something", "x");
  absl::Status s = RestoreMember(Options(1, other), file_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(ReadAll(other + "/something"), "x");
  EXPECT_FALSE(std::filesystem::exists(other + "/IDENTITY"));

  ReplicaOptions joining = Options(1, dir_.Sub("joining"));
  joining.initial_cluster.clear();
  joining.join = "127.0.0.1:7001";
  EXPECT_EQ(RestoreMember(joining, file_).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RestoreMember(Options(9, dir_.Sub("stranger")), file_).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("stranger")));
}

TEST_F(RestoreTest, DamagedFilesAreRefusedAndNothingIsCreated) {
  const std::string good = ReadAll(file_);
  ASSERT_GT(good.size(), 200u);
  struct Case {
    std::string name;
    std::string bytes;
  };
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x01;
  std::vector<Case> cases = {
      {"flipped", flipped},
      {"truncated", good.substr(0, good.size() - 9)},
      {"header only", good.substr(0, 36)},
      {"empty", ""},
      {"trailing garbage", good + "x"},
  };
  for (const Case& c : cases) {
    const std::string bad = dir_.Sub("bad.snap");
    WriteAll(bad, c.bytes);
    EXPECT_FALSE(storage::VerifySnapshot(bad).ok()) << c.name;
    const std::string data = dir_.Sub("never");
    absl::Status s = RestoreMember(Options(1, data), bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << c.name << ": " << s;
    EXPECT_FALSE(std::filesystem::exists(data)) << c.name;
    EXPECT_FALSE(std::filesystem::exists(data + ".restoring")) << c.name;
  }
  EXPECT_EQ(RestoreMember(Options(1, dir_.Sub("never")), dir_.Sub("absent.snap")).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RestoreTest, VerifyCountsWhatTheFileHolds) {
  absl::StatusOr<storage::SnapshotSummary> s = storage::VerifySnapshot(file_);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->info.meta, source_meta_);
  EXPECT_EQ(s->nodes, 52u);  // root, /n0../n49, /eph
  EXPECT_EQ(s->sessions, 1u);
  EXPECT_EQ(s->info.bytes, ReadAll(file_).size());
}

}  // namespace
}  // namespace synod::server
