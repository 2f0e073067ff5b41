// Snapshot files across power cuts (storage::FaultFileIO): writing one as
// the snapshot thread does (temp file, sync, rename, directory sync, pruning
// the older one) and installing one received in chunks (SnapshotInbox).
// Cut the power after every file operation, with or without what was not
// synced: on reopen every snapshot name holds a whole file, the newest is
// the old or the new snapshot (the new one once it was acknowledged), and it
// restores to exactly that state. A failed sync stops the process.
#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "storage/fault_file_io.h"
#include "storage/snapshot.h"
#include "storage/snapshot_files.h"
#include "storage/snapshot_inbox.h"
#include "storage/tree_test_util.h"

namespace synod::storage::testing {
namespace {

constexpr char kDir[] = "/data/snapshots";
// Small, so that the test's snapshot (under 1 KB) arrives in several.
constexpr size_t kChunkBytes = 128;

// Two states of one replica: `old_state` at some index, `new_state` later.
class TwoStates {
 public:
  TwoStates() {
    Driver old_driver(old_state.store());
    Driver new_driver(new_state.store());
    CommandGenerator gen(17);
    for (int i = 0; i < 400; ++i) {
      const v1::Command c = gen.Next(new_driver.next_index(), new_state.store());
      if (i < 250) old_driver.Apply(c);
      new_driver.Apply(c);
    }
    old_dump = Dump(old_state.store());
    new_dump = Dump(new_state.store());
  }
  uint64_t old_index() { return old_state.store()->meta().applied_index; }
  uint64_t new_index() { return new_state.store()->meta().applied_index; }

  MemoryHolder old_state;
  MemoryHolder new_state;
  std::string old_dump;
  std::string new_dump;
};

TwoStates& States() {
  static TwoStates* const states = new TwoStates();
  return *states;
}

// The snapshot thread's steps: write a temp file, publish it, prune the
// older ones. OK only if it was published.
absl::Status WriteAndPublish(TreeStore* store, const SnapshotFiles& files) {
  const std::string temp = files.TempPathFor(0, "create");
  absl::StatusOr<SnapshotInfo> info = store->WriteSnapshot(temp, files.io());
  if (!info.ok()) return info.status();
  if (absl::Status s = files.Publish(temp, info->meta.applied_index); !s.ok()) return s;
  files.Prune(info->meta.applied_index);
  return absl::OkStatus();
}

// Installs `bytes` as the snapshot file for `index` the way a follower
// receives one: chunks through the inbox, then Publish.
absl::Status Install(const SnapshotFiles& files, uint64_t index, const std::string& bytes) {
  SnapshotInbox inbox(&files);
  auto transfer = inbox.NewTransfer(index, "recv1");
  absl::Status result;
  for (size_t at = 0; at < bytes.size() && result.ok(); at += kChunkBytes) {
    absl::Notification written;
    absl::Status queued = inbox.Write(transfer, bytes.substr(at, kChunkBytes), [&](absl::Status s) {
      result = s;
      written.Notify();
    });
    if (!queued.ok()) return queued;
    written.WaitForNotification();
  }
  if (!result.ok()) return result;
  absl::Notification published;
  absl::Status queued = inbox.Publish(transfer, [&](absl::Status s) {
    result = s;
    published.Notify();
  });
  if (!queued.ok()) return queued;
  published.WaitForNotification();
  if (result.ok()) files.Prune(index);
  return result;
}

// After the reboot: what start-up sees.
void ExpectOldOrNew(FaultFileIO* io, bool new_acknowledged, const std::string& where) {
  SnapshotFiles files(kDir, io);
  ASSERT_TRUE(files.Init().ok()) << where;
  absl::StatusOr<std::vector<std::string>> names = io->List(kDir);
  ASSERT_TRUE(names.ok()) << where;
  for (const std::string& name : *names) {
    EXPECT_FALSE(absl::EndsWith(name, ".tmp")) << where << ": " << name << " left after Init";
  }
  const std::vector<uint64_t> listed = files.List();
  ASSERT_FALSE(listed.empty()) << where << ": no snapshot left";
  for (uint64_t index : listed) {
    EXPECT_TRUE(index == States().old_index() || index == States().new_index())
        << where << ": snapshot " << index;
    absl::StatusOr<SnapshotSummary> verified = VerifySnapshot(files.PathFor(index), io);
    EXPECT_TRUE(verified.ok()) << where << ": snapshot " << index
                               << " is not whole: " << verified.status();
  }
  const uint64_t newest = listed.back();
  EXPECT_TRUE(!new_acknowledged || newest == States().new_index())
      << where << ": the acknowledged snapshot was lost";
  MemoryHolder restored;
  absl::StatusOr<SnapshotInfo> info = restored.store()->RestoreSnapshot(files.PathFor(newest), io);
  ASSERT_TRUE(info.ok()) << where << ": " << info.status();
  EXPECT_EQ(Dump(restored.store()),
            newest == States().new_index() ? States().new_dump : States().old_dump)
      << where;
}

// Runs `second` (which makes the new snapshot) after the old snapshot is
// published, cutting the power at each of its file operations in turn.
void PowerCutAtEveryStep(
    const std::function<absl::Status(const SnapshotFiles&, FaultFileIO*)>& second) {
  std::vector<std::string> trace;
  uint64_t first_op = 0;
  {
    FaultFileIO io;
    SnapshotFiles files(kDir, &io);
    ASSERT_TRUE(files.Init().ok());
    ASSERT_TRUE(WriteAndPublish(States().old_state.store(), files).ok());
    first_op = io.ops();
    ASSERT_TRUE(second(files, &io).ok());
    trace = io.trace();
  }
  ASSERT_GT(trace.size(), first_op + 4);
  for (uint64_t op = first_op; op < trace.size(); ++op) {
    for (int mode = 0; mode < 4; ++mode) {
      const bool keep_data = mode & 1;
      const bool keep_names = mode & 2;
      const std::string where =
          absl::StrCat("power cut at op ", op, " (", trace[op], "), keep_data=", keep_data,
                       " keep_names=", keep_names);
      FaultFileIO io;
      io.CrashAtOp(op, FaultFileIO::WriteSize(trace[op]) / 2);
      bool acknowledged = false;
      {
        SnapshotFiles files(kDir, &io);
        ASSERT_TRUE(files.Init().ok());
        ASSERT_TRUE(WriteAndPublish(States().old_state.store(), files).ok());
        acknowledged = second(files, &io).ok() && !io.crashed();
      }
      ASSERT_TRUE(io.crashed()) << where;
      io.PowerCut(keep_data, keep_names);
      ExpectOldOrNew(&io, acknowledged, where);
    }
  }
}

TEST(SnapshotCrashTest, WritingASnapshotLeavesTheOldOrTheNewOneAfterAPowerCut) {
  PowerCutAtEveryStep([](const SnapshotFiles& files, FaultFileIO*) {
    return WriteAndPublish(States().new_state.store(), files);
  });
}

TEST(SnapshotCrashTest, InstallingAReceivedSnapshotLeavesTheOldOrTheNewOneAfterAPowerCut) {
  std::string bytes;
  {
    FaultFileIO io;
    ASSERT_TRUE(io.CreateDir("/src").ok());
    ASSERT_TRUE(States().new_state.store()->WriteSnapshot("/src/snap", &io).ok());
    bytes = io.Contents("/src/snap");
  }
  ASSERT_GT(bytes.size(), 3 * kChunkBytes) << "too small to arrive in several chunks";
  PowerCutAtEveryStep([&bytes](const SnapshotFiles& files, FaultFileIO*) {
    return Install(files, States().new_index(), bytes);
  });
}

// A failed sync of a snapshot file or of its directory stops the process:
// the kernel may have dropped the data, and the snapshot thread must not
// go on as if the file were durable.
TEST(SnapshotCrashDeathTest, AFailedSyncWhileWritingASnapshotAborts) {
  std::vector<std::string> trace;
  uint64_t first_op = 0;
  {
    FaultFileIO io;
    SnapshotFiles files(kDir, &io);
    ASSERT_TRUE(files.Init().ok());
    first_op = io.ops();
    ASSERT_TRUE(WriteAndPublish(States().new_state.store(), files).ok());
    trace = io.trace();
  }
  int syncs = 0;
  for (uint64_t op = first_op; op < trace.size(); ++op) {
    if (!absl::StartsWith(trace[op], "datasync") && !absl::StartsWith(trace[op], "syncdir")) {
      continue;
    }
    ++syncs;
    FaultFileIO io;
    SnapshotFiles files(kDir, &io);
    ASSERT_TRUE(files.Init().ok());
    io.FailAtOp(op, EIO);
    EXPECT_DEATH(
        {
          // Dies before it returns; the status would say nothing more.
          WriteAndPublish(States().new_state.store(), files).IgnoreError();
        },
        "a sync failed, stopping")
        << trace[op];
  }
  EXPECT_EQ(syncs, 2) << "the file's sync and the directory's";
}

}  // namespace
}  // namespace synod::storage::testing
