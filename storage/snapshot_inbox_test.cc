// SnapshotInbox: received snapshot files are written on the inbox thread,
// published whole, removed when abandoned or failed, and the queue is
// bounded.
#include "storage/snapshot_inbox.h"

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "storage/fault_file_io.h"

namespace synod::storage {
namespace {

constexpr char kDir[] = "/data/snapshots";

// Collects the statuses `done` callbacks report.
class Results {
 public:
  SnapshotInbox::Done Add() {
    return [this](absl::Status s) {
      absl::MutexLock lock(&mu_);
      statuses_.push_back(s);
    };
  }
  // Waits (bounded) until `n` callbacks ran; their statuses.
  std::vector<absl::Status> Wait(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return statuses_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
    return statuses_;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Status> statuses_ ABSL_GUARDED_BY(mu_);
};

bool HasTempFile(FaultFileIO* io) {
  absl::StatusOr<std::vector<std::string>> names = io->List(kDir);
  if (!names.ok()) return false;
  for (const std::string& name : *names) {
    if (absl::EndsWith(name, ".tmp")) return true;
  }
  return false;
}

class SnapshotInboxTest : public ::testing::Test {
 protected:
  SnapshotInboxTest() : files_(kDir, &io_) { EXPECT_TRUE(files_.Init().ok()); }

  FaultFileIO io_;
  SnapshotFiles files_;
  Results results_;
};

TEST_F(SnapshotInboxTest, WritesChunksInOrderThenPublishesUnderTheIndex) {
  SnapshotInbox inbox(&files_);
  auto transfer = inbox.NewTransfer(5, "a");
  ASSERT_TRUE(inbox.Write(transfer, "snap", results_.Add()).ok());
  ASSERT_TRUE(inbox.Write(transfer, "shot", results_.Add()).ok());
  ASSERT_TRUE(inbox.Publish(transfer, results_.Add()).ok());
  const std::vector<absl::Status> done = results_.Wait(3);
  ASSERT_EQ(done.size(), 3u);
  for (const absl::Status& s : done) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(files_.List(), std::vector<uint64_t>{5});
  EXPECT_EQ(io_.Contents(files_.PathFor(5)), "snapshot");
  EXPECT_FALSE(HasTempFile(&io_));
  // Published: a power cut keeps it.
  io_.PowerCut(/*keep_data=*/false, /*keep_names=*/false);
  EXPECT_EQ(io_.Contents(files_.PathFor(5)), "snapshot");
}

TEST_F(SnapshotInboxTest, AFullQueueRefusesAtOnceAndQueuesNothing) {
  SnapshotInbox::Options options;
  options.max_queued = 2;
  SnapshotInbox inbox(&files_, options);
  auto transfer = inbox.NewTransfer(5, "a");
  absl::Notification running, release;
  // Holds the inbox thread so that what follows stays queued.
  ASSERT_TRUE(inbox
                  .Write(transfer, "a",
                         [&](absl::Status) {
                           running.Notify();
                           release.WaitForNotification();
                         })
                  .ok());
  ASSERT_TRUE(running.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_TRUE(inbox.Write(transfer, "b", results_.Add()).ok());
  ASSERT_TRUE(inbox.Write(transfer, "c", results_.Add()).ok());
  const absl::Status refused = inbox.Write(transfer, "d", results_.Add());
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  release.Notify();
  EXPECT_EQ(results_.Wait(2).size(), 2u);
  ASSERT_TRUE(inbox.Publish(transfer, results_.Add()).ok());
  ASSERT_EQ(results_.Wait(3).size(), 3u);
  EXPECT_EQ(io_.Contents(files_.PathFor(5)), "abc");
}

TEST_F(SnapshotInboxTest, AFailedWriteRemovesTheFileAndFailsWhatFollows) {
  SnapshotInbox inbox(&files_);
  auto transfer = inbox.NewTransfer(5, "a");
  io_.FailAtOp(io_.ops() + 1, ENOSPC);  // create, then the first pwrite
  ASSERT_TRUE(inbox.Write(transfer, "abc", results_.Add()).ok());
  ASSERT_TRUE(inbox.Write(transfer, "def", results_.Add()).ok());
  ASSERT_TRUE(inbox.Publish(transfer, results_.Add()).ok());
  const std::vector<absl::Status> done = results_.Wait(3);
  ASSERT_EQ(done.size(), 3u);
  for (const absl::Status& s : done) {
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  }
  EXPECT_TRUE(files_.List().empty());
  EXPECT_FALSE(HasTempFile(&io_));
}

TEST_F(SnapshotInboxTest, AbandonRemovesTheTemporaryFile) {
  SnapshotInbox inbox(&files_);
  auto transfer = inbox.NewTransfer(5, "a");
  ASSERT_TRUE(inbox.Write(transfer, "abc", results_.Add()).ok());
  ASSERT_EQ(results_.Wait(1).size(), 1u);
  EXPECT_TRUE(HasTempFile(&io_));
  inbox.Abandon(transfer);
  inbox.Stop();  // runs the queued Abandon
  EXPECT_FALSE(HasTempFile(&io_));
  EXPECT_TRUE(files_.List().empty());
}

TEST_F(SnapshotInboxTest, StopRunsWhatIsQueuedThenRefuses) {
  SnapshotInbox inbox(&files_);
  auto transfer = inbox.NewTransfer(5, "a");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(inbox.Write(transfer, "x", results_.Add()).ok());
  ASSERT_TRUE(inbox.Publish(transfer, results_.Add()).ok());
  inbox.Stop();
  EXPECT_EQ(results_.Wait(11).size(), 11u);
  EXPECT_EQ(io_.Contents(files_.PathFor(5)), std::string(10, 'x'));
  EXPECT_EQ(inbox.Write(inbox.NewTransfer(6, "b"), "y", results_.Add()).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace synod::storage
