// SnapshotFiles under power cuts and failed syncs (FaultFileIO): a
// name always means a whole snapshot, a published one survives any crash,
// and a failed sync publishes nothing.
#include "storage/snapshot_files.h"

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/fault_file_io.h"

namespace synod::storage {
namespace {

constexpr char kDir[] = "/data/snapshots";

std::string Body(uint64_t index) {
  std::string body;
  while (body.size() < 3000) body += absl::StrCat("snapshot ", index, " ");
  return body;
}

// Writes the file for `index` as the snapshot thread does (a temp file,
// then Publish); OK only if it was published.
absl::Status WriteAndPublish(FaultFileIO* io, const SnapshotFiles& files, uint64_t index) {
  const std::string temp = files.TempPathFor(index, "t");
  {
    absl::StatusOr<std::unique_ptr<File>> file = io->Open(temp, FileIO::OpenMode::kCreate);
    if (!file.ok()) return file.status();
    if (absl::Status s = (*file)->PWrite(0, Body(index)); !s.ok()) return s;
  }
  return files.Publish(temp, index);
}

// What survived: every listed file whole, no temp file left after Init.
void ExpectWholeFiles(FaultFileIO* io, const SnapshotFiles& files, const std::string& where) {
  absl::StatusOr<std::vector<std::string>> names = io->List(kDir);
  ASSERT_TRUE(names.ok()) << where << ": " << names.status();
  for (const std::string& name : *names) {
    EXPECT_FALSE(absl::EndsWith(name, ".tmp")) << where << ": " << name << " left after Init";
  }
  for (uint64_t index : files.List()) {
    EXPECT_EQ(io->Contents(files.PathFor(index)), Body(index))
        << where << ": snapshot " << index << " is not whole";
  }
}

TEST(SnapshotFilesTest, PowerCutAtEveryStepLeavesWholeFilesAndKeepsPublishedOnes) {
  std::vector<std::string> trace;
  {
    FaultFileIO io;
    SnapshotFiles files(kDir, &io);
    ASSERT_TRUE(files.Init().ok());
    ASSERT_TRUE(WriteAndPublish(&io, files, 10).ok());
    ASSERT_TRUE(WriteAndPublish(&io, files, 20).ok());
    files.Prune(20);
    ASSERT_EQ(files.List(), std::vector<uint64_t>{20});
    trace = io.trace();
  }
  for (uint64_t op = 0; op < trace.size(); ++op) {
    for (int mode = 0; mode < 4; ++mode) {
      const bool keep_data = mode & 1;
      const bool keep_names = mode & 2;
      const std::string where =
          absl::StrCat("crash at op ", op, " (", trace[op], "), keep_data=", keep_data,
                       " keep_names=", keep_names);
      FaultFileIO io;
      io.CrashAtOp(op, FaultFileIO::WriteSize(trace[op]) / 2);
      // Prune may remove 10 once it runs before the crash.
      bool published10 = false, published20 = false, pruned = false;
      {
        SnapshotFiles files(kDir, &io);
        ASSERT_TRUE(files.Init().ok());
        published10 = WriteAndPublish(&io, files, 10).ok() && !io.crashed();
        published20 = WriteAndPublish(&io, files, 20).ok() && !io.crashed();
        pruned = !io.crashed();
        files.Prune(20);
      }
      io.PowerCut(keep_data, keep_names);
      SnapshotFiles files(kDir, &io);
      ASSERT_TRUE(files.Init().ok()) << where;
      ExpectWholeFiles(&io, files, where);
      const std::vector<uint64_t> listed = files.List();
      const auto has = [&](uint64_t index) {
        return std::find(listed.begin(), listed.end(), index) != listed.end();
      };
      EXPECT_TRUE(!published20 || has(20)) << where << ": published 20 lost";
      EXPECT_TRUE(!published10 || pruned || has(10)) << where << ": published 10 lost";
    }
  }
}

// A failed sync stops the process (the kernel may have dropped the data):
// of the file before its rename, or of the directory after it.
TEST(SnapshotFilesDeathTest, FailedSyncAborts) {
  for (int sync : {0, 2}) {  // Publish: datasync, rename, syncdir
    FaultFileIO io;
    SnapshotFiles files(kDir, &io);
    ASSERT_TRUE(files.Init().ok());
    const std::string temp = files.TempPathFor(10, "t");
    {
      auto file = io.Open(temp, FileIO::OpenMode::kCreate);
      ASSERT_TRUE(file.ok());
      ASSERT_TRUE((*file)->PWrite(0, Body(10)).ok());
    }
    io.FailAtOp(io.ops() + sync, EIO);
    EXPECT_DEATH(files.Publish(temp, 10).IgnoreError(), "a sync failed, stopping")
        << "sync " << sync;
  }
}

}  // namespace
}  // namespace synod::storage
