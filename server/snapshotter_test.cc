#include "server/snapshotter.h"

#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "storage/memory_tree_store.h"
#include "storage/snapshot.h"
#include "storage/write_set.h"
#include "tests/testing/temp_dir.h"

namespace synod::server {
namespace {

// Collects the snapshot thread's reports.
class Reports {
 public:
  void Done(uint64_t index, bool ok) {
    absl::MutexLock lock(&mu_);
    ++count_;
    last_index_ = index;
    last_ok_ = ok;
  }
  // Waits (bounded) until `n` reports arrived; false on timeout.
  bool WaitFor(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return count_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(30));
  }
  bool last_ok() {
    absl::MutexLock lock(&mu_);
    return last_ok_;
  }

 private:
  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_index_ ABSL_GUARDED_BY(mu_) = 0;
  bool last_ok_ ABSL_GUARDED_BY(mu_) = false;
};

uint64_t FileSize(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<uint64_t>(st.st_size);
}

TEST(SnapshotterTest, SpacingGrowsWithTheState) {
  testing::TempDir dir;
  storage::SnapshotFiles files(dir.Sub("snapshots"));
  ASSERT_TRUE(files.Init().ok());
  storage::MemoryTreeStore store;
  Reports reports;
  Snapshotter snapshotter(&store, &files, [&](uint64_t index, bool ok) { reports.Done(index, ok); });
  snapshotter.Start();
  // No snapshot yet: no floor beyond the configured threshold.
  EXPECT_EQ(snapshotter.MinEntriesBetween(), 0u);
  snapshotter.Request();
  ASSERT_TRUE(reports.WaitFor(1));
  ASSERT_TRUE(reports.last_ok());
  ASSERT_EQ(files.List().size(), 1u);
  auto summary = storage::VerifySnapshot(files.PathFor(files.List().back()));
  ASSERT_TRUE(summary.ok()) << summary.status();
  const uint64_t small = snapshotter.MinEntriesBetween();

  // A state with 2,000 nodes of 2 KiB (4 MiB of data)
  // asks for at least 4 MiB / 1 KiB entries between snapshots, though its
  // (compressed) file is much smaller than that.
  storage::WriteSet ws;
  for (int i = 0; i < 2000; ++i) {
    storage::Node node;
    node.data = std::string(2048, static_cast<char>('a' + i % 26));
    ws.nodes.insert_or_assign("/n" + std::to_string(i), std::move(node));
  }
  ws.applied_index = 10;
  ASSERT_TRUE(store.Commit(ws).ok());
  snapshotter.Request();
  ASSERT_TRUE(reports.WaitFor(2));
  ASSERT_TRUE(reports.last_ok());
  const uint64_t file = FileSize(files.PathFor(files.List().back()));
  EXPECT_GT(snapshotter.MinEntriesBetween(), small);
  EXPECT_GE(snapshotter.MinEntriesBetween(), (4u << 20) / Snapshotter::kSnapshotBytesPerEntry);
  EXPECT_LT(file / Snapshotter::kSnapshotBytesPerEntry, snapshotter.MinEntriesBetween());
  snapshotter.Stop();
}

}  // namespace
}  // namespace synod::server
