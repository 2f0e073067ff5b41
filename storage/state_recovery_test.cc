// Start-up from a RocksDB state older than the snapshot the Raft log starts
// after (RecoverState): the state comes from the snapshot file, then the
// log replays on top; a damaged or missing file stops the replica with
// DATA_LOSS and leaves the state as it was.
#include "storage/state_recovery.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/rocks_tree_store.h"
#include "storage/snapshot.h"
#include "storage/tree_test_util.h"
#include "tests/testing/temp_dir.h"

namespace synod::storage::testing {
namespace {

constexpr uint64_t kStale = 150;     // A: where the replica's RocksDB state is
constexpr uint64_t kSnapshot = 300;  // S: the snapshot the log starts after
constexpr uint64_t kLast = 400;      // the log's last entry

// The cluster's history: the commands of entries 1..kLast, and the state
// after kSnapshot and after kLast (a reference store applies them all).
struct History {
  History() {
    Driver driver(reference.store());
    CommandGenerator gen(29);
    while (commands.size() < kLast) {
      commands.push_back(gen.Next(driver.next_index(), reference.store()));
      driver.Apply(commands.back());
      if (commands.size() == kSnapshot) {
        at_snapshot = Dump(reference.store());
        EXPECT_TRUE(reference.store()->WriteSnapshot(snapshot_dir.Sub("s")).ok());
      }
    }
    at_last = Dump(reference.store());
  }

  MemoryHolder reference;
  synod::testing::TempDir snapshot_dir{"synod-recovery-src-"};
  std::vector<v1::Command> commands;
  std::string at_snapshot;
  std::string at_last;
};

class StateRecoveryTest : public ::testing::Test {
 protected:
  StateRecoveryTest() : files_(dir_.Sub("snapshots")) {
    EXPECT_TRUE(files_.Init().ok());
    EXPECT_TRUE(files_.CopyIn(history_.snapshot_dir.Sub("s"), kSnapshot).ok());
    // The replica applied entries 1..A, then stopped (its RocksDB state is
    // not synced, and the log was compacted up to S meanwhile).
    Driver driver(replica_.store());
    for (uint64_t i = 0; i < kStale; ++i) driver.Apply(history_.commands[i]);
    replica_.Reopen();
    EXPECT_EQ(replica_.store()->meta().applied_index, kStale);
  }

  RocksTreeStore* store() { return static_cast<RocksTreeStore*>(replica_.store()); }
  absl::StatusOr<Recovery> Recover() {
    return RecoverState(store(), store()->restore_pending(), files_, kSnapshot);
  }

  History history_;
  synod::testing::TempDir dir_{"synod-recovery-"};
  SnapshotFiles files_;
  RocksHolder replica_;
};

TEST_F(StateRecoveryTest, AStateBehindTheLogsSnapshotIsRestoredFromItThenReplayed) {
  absl::StatusOr<Recovery> recovery = Recover();
  ASSERT_TRUE(recovery.ok()) << recovery.status();
  EXPECT_EQ(*recovery, Recovery::kRestored);
  // Never the stale state: exactly the snapshot's.
  EXPECT_EQ(store()->meta().applied_index, kSnapshot);
  EXPECT_EQ(Dump(store()), history_.at_snapshot);
  // The log replays S+1.. on top and ends where the cluster is.
  Driver driver(store());
  ASSERT_EQ(driver.next_index(), kSnapshot + 1);
  for (uint64_t i = kSnapshot; i < kLast; ++i) driver.Apply(history_.commands[i]);
  EXPECT_EQ(Dump(store()), history_.at_last);
  // And it stays so across another restart.
  replica_.Reopen();
  recovery = Recover();
  ASSERT_TRUE(recovery.ok()) << recovery.status();
  EXPECT_EQ(*recovery, Recovery::kKept);
  EXPECT_EQ(Dump(replica_.store()), history_.at_last);
}

TEST_F(StateRecoveryTest, AStateTheLogCoversIsKept) {
  const std::string before = Dump(store());
  absl::StatusOr<Recovery> recovery = RecoverState(store(), false, files_, kStale);
  ASSERT_TRUE(recovery.ok()) << recovery.status();
  EXPECT_EQ(*recovery, Recovery::kKept);
  EXPECT_EQ(Dump(store()), before);
}

TEST_F(StateRecoveryTest, ADamagedSnapshotRefusesToStartWithDataLossAndTouchesNothing) {
  const std::string path = files_.PathFor(kSnapshot);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(200);
    const char byte = static_cast<char>(f.get() ^ 0xff);
    f.seekp(200);
    f.put(byte);
  }
  const std::string before = Dump(store());
  absl::StatusOr<Recovery> recovery = Recover();
  EXPECT_EQ(recovery.status().code(), absl::StatusCode::kDataLoss) << recovery.status();
  EXPECT_EQ(Dump(store()), before);
}

TEST_F(StateRecoveryTest, AMissingSnapshotRefusesToStartWithDataLoss) {
  ASSERT_EQ(std::remove(files_.PathFor(kSnapshot).c_str()), 0);
  absl::StatusOr<Recovery> recovery = Recover();
  EXPECT_EQ(recovery.status().code(), absl::StatusCode::kDataLoss) << recovery.status();
  EXPECT_EQ(store()->meta().applied_index, kStale);
}

TEST_F(StateRecoveryTest, ASnapshotOfAnotherIndexUnderItsNameIsRefused) {
  // A file of another index renamed to S's name.
  ASSERT_TRUE(history_.reference.store()->WriteSnapshot(dir_.Sub("later")).ok());
  ASSERT_EQ(std::rename(dir_.Sub("later").c_str(), files_.PathFor(kSnapshot).c_str()), 0);
  const std::string before = Dump(store());
  absl::StatusOr<Recovery> recovery = Recover();
  EXPECT_EQ(recovery.status().code(), absl::StatusCode::kDataLoss) << recovery.status();
  EXPECT_EQ(Dump(store()), before);
}

}  // namespace
}  // namespace synod::storage::testing
