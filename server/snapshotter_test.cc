#include "server/snapshotter.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "storage/memory_tree_store.h"
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

TEST(SnapshotterTest, SpacingGrowsWithTheNewestFile) {
  testing::TempDir dir;
  SnapshotFiles files(dir.Sub("snapshots"));
  ASSERT_TRUE(files.Init().ok());
  storage::MemoryTreeStore store;
  Reports reports;
  {
    Snapshotter snapshotter(&store, &files,
                            [&](uint64_t index, bool ok) { reports.Done(index, ok); });
    snapshotter.Start();
    // No file yet: no floor beyond the configured threshold.
    EXPECT_EQ(snapshotter.MinEntriesBetween(), 0u);
    snapshotter.Request();
    ASSERT_TRUE(reports.WaitFor(1));
    ASSERT_TRUE(reports.last_ok());
    ASSERT_EQ(files.List().size(), 1u);
    const uint64_t bytes = FileSize(files.PathFor(files.List().back()));
    EXPECT_EQ(snapshotter.MinEntriesBetween(), bytes / Snapshotter::kSnapshotBytesPerEntry);
    snapshotter.Stop();
  }
  // A restarted snapshotter paces by the newest file on disk: a large
  // state (faked by a large file) asks for proportionally more entries.
  const uint64_t big_index = files.List().back() + 100;
  const std::string temp = files.TempPathFor(big_index, "test");
  {
    std::FILE* f = std::fopen(temp.c_str(), "w");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(::ftruncate(fileno(f), 8u << 20), 0);
    std::fclose(f);
  }
  ASSERT_TRUE(files.Publish(temp, big_index).ok());
  Snapshotter restarted(&store, &files, [&](uint64_t index, bool ok) { reports.Done(index, ok); });
  restarted.Start();
  EXPECT_EQ(restarted.MinEntriesBetween(), (8u << 20) / Snapshotter::kSnapshotBytesPerEntry);
  restarted.Stop();
}

}  // namespace
}  // namespace synod::server
