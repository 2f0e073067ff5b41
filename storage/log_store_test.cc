#include "storage/log_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/log_test_util.h"
#include "tests/testing/temp_dir.h"

namespace synod::storage::testing {
namespace {

// Death tests run "threadsafe" (the store prepares its next segment on a
// thread of its own): the child re-runs
// the test from scratch, fixture included, and dies before cleaning up, so
// while one runs, TMPDIR points inside the parent's temp dir (which the
// parent removes); the previous TMPDIR comes back afterwards.
class DeathTestScope {
 public:
  explicit DeathTestScope(const std::string& parent_dir) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const char* old = std::getenv("TMPDIR");
    if (old != nullptr) old_ = old;
    had_ = old != nullptr;
    setenv("TMPDIR", parent_dir.c_str(), 1);
  }
  ~DeathTestScope() {
    if (had_) {
      setenv("TMPDIR", old_.c_str(), 1);
    } else {
      unsetenv("TMPDIR");
    }
  }

 private:
  std::string old_;
  bool had_ = false;
};

class LogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(size_t cache_bytes = 64u << 20) {
    absl::Status s = TryReopen(cache_bytes);
    ASSERT_TRUE(s.ok()) << s;
  }

  absl::Status TryReopen(size_t cache_bytes = 64u << 20) {
    store_.reset();
    auto store = LogStore::Open(LogOptions(LogDir(), segment_bytes_, cache_bytes));
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    return absl::OkStatus();
  }

  // Entries 1..1000 (term 1) in 8 KiB segments, then the store closed: a
  // log of several segments to damage.
  void WriteSeveralSegmentsAndClose() {
    segment_bytes_ = 8 << 10;
    Reopen();
    for (raft::LogIndex i = 1; i <= 1000; i += 50) {
      store_->Save(std::nullopt, Range(i, i + 49, 1), Hard(1, 1, i + 49), true);
    }
    store_.reset();
  }

  std::string LogDir() { return dir_.Sub("raftlog"); }
  // The segment files, oldest first.
  std::vector<std::string> Segments() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(LogDir())) {
      if (e.path().extension() == ".seg") out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void WriteFile(const std::string& path, const std::string& bytes) {
    std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good());
  }
  // Offset just past the last non-zero byte of `bytes`.
  static size_t DataEnd(const std::string& bytes) {
    const size_t last = bytes.find_last_not_of('\0');
    return last == std::string::npos ? 0 : last + 1;
  }

  void ExpectEntries(raft::LogIndex lo, raft::LogIndex hi, raft::Term term) {
    auto got = store_->Entries(lo, hi + 1, UINT64_MAX);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), hi - lo + 1);
    for (raft::LogIndex i = lo; i <= hi; ++i) {
      const raft::Entry& e = (*got)[i - lo];
      EXPECT_EQ(e.index(), i);
      EXPECT_EQ(e.term(), term);
      EXPECT_EQ(e.data(), EntryData(i, term));
    }
  }

  synod::testing::TempDir dir_;
  uint64_t segment_bytes_ = 1u << 20;
  std::unique_ptr<LogStore> store_;
};

TEST_F(LogStoreTest, EmptyAndBootstrap) {
  EXPECT_TRUE(store_->IsEmpty());
  EXPECT_EQ(store_->FirstIndex(), 1u);
  EXPECT_EQ(store_->LastIndex(), 0u);
  raft::ConfState cs;
  cs.add_voters(1);
  cs.add_voters(2);
  cs.add_voters(3);
  ASSERT_TRUE(store_->Bootstrap(cs, "descriptor").ok());
  EXPECT_EQ(store_->Bootstrap(cs, "again").code(), absl::StatusCode::kFailedPrecondition);
  Reopen();
  EXPECT_FALSE(store_->IsEmpty());
  auto init = store_->GetInitialState();
  ASSERT_TRUE(init.ok());
  EXPECT_EQ(init->conf_state.voters_size(), 3);
  auto snap = store_->GetSnapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->data(), "descriptor");
  EXPECT_EQ(snap->metadata().index(), kBootstrapIndex);
  EXPECT_EQ(*store_->TermAt(kBootstrapIndex), 1u);
  EXPECT_EQ(store_->FirstIndex(), kBootstrapIndex + 1);
  EXPECT_EQ(store_->LastIndex(), kBootstrapIndex);
  EXPECT_EQ(init->hard_state.term(), 1u);
  EXPECT_EQ(init->hard_state.commit(), kBootstrapIndex);
}

TEST_F(LogStoreTest, AppendAndReopen) {
  store_->Save(std::nullopt, Range(1, 10, 1), Hard(1, 2, 7), /*sync=*/true);
  ExpectEntries(1, 10, 1);
  Reopen();
  EXPECT_EQ(store_->FirstIndex(), 1u);
  EXPECT_EQ(store_->LastIndex(), 10u);
  ExpectEntries(1, 10, 1);
  EXPECT_EQ(store_->hard_state().commit(), 7u);
  EXPECT_EQ(store_->GetInitialState()->hard_state.vote(), 2u);
  EXPECT_EQ(*store_->TermAt(5), 1u);
  EXPECT_EQ(store_->TermAt(11).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Entries(5, 12, UINT64_MAX).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LogStoreTest, ConflictingTailIsTruncated) {
  store_->Save(std::nullopt, Range(1, 10, 1), Hard(1, 1, 3), true);
  // A new leader overwrites from 6 with a shorter log of term 2.
  store_->Save(std::nullopt, {MakeEntry(6, 2), MakeEntry(7, 2)}, Hard(2, 0, 3), true);
  EXPECT_EQ(store_->LastIndex(), 7u);
  EXPECT_EQ(*store_->TermAt(7), 2u);
  EXPECT_EQ(*store_->TermAt(5), 1u);
  Reopen();
  EXPECT_EQ(store_->LastIndex(), 7u);
  EXPECT_EQ(*store_->TermAt(6), 2u);
  ExpectEntries(6, 7, 2);
  ExpectEntries(1, 5, 1);
}

TEST_F(LogStoreTest, ReadsBelowTheCacheComeFromTheFiles) {
  // A tiny cache keeps only the last entry; every other read hits the files.
  Reopen(/*cache_bytes=*/1);
  store_->Save(std::nullopt, Range(1, 100, 3), Hard(3, 1, 10), true);
  ExpectEntries(1, 100, 3);
  ExpectEntries(40, 60, 3);
  EXPECT_EQ(*store_->TermAt(50), 3u);
  // Truncation below the cache.
  store_->Save(std::nullopt, {MakeEntry(20, 4)}, std::nullopt, true);
  EXPECT_EQ(store_->LastIndex(), 20u);
  EXPECT_EQ(*store_->TermAt(20), 4u);
  EXPECT_EQ(*store_->TermAt(19), 3u);
  Reopen(1);
  EXPECT_EQ(store_->LastIndex(), 20u);
}

TEST_F(LogStoreTest, CacheIsBoundedByTheMemoryItHolds) {
  // 1,000 entries of 4 KiB against a 64 KiB bound: the cache counts the
  // payload allocations, so it keeps about 15 entries, never the whole log.
  constexpr size_t kBound = 64u << 10;
  Reopen(kBound);
  const std::string payload(4096, 'x');
  for (raft::LogIndex i = 1; i <= 1000; i += 10) {
    std::vector<raft::Entry> batch;
    for (raft::LogIndex j = i; j < i + 10; ++j) batch.push_back(MakeEntry(j, 1, payload));
    store_->Save(std::nullopt, std::move(batch), Hard(1, 1, i + 9), true);
    EXPECT_LE(store_->cache_memory(), kBound);
  }
  EXPECT_GE(store_->cache_memory(), kBound - 2 * (payload.size() + 256));
  auto all = store_->Entries(1, 1001, UINT64_MAX);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1000u);
  EXPECT_EQ(all->front().data(), payload);
  // The last entry stays cached even when it alone exceeds the bound.
  Reopen(1);
  EXPECT_GE(store_->cache_memory(), payload.size());
  EXPECT_LT(store_->cache_memory(), 2 * payload.size());
}

TEST_F(LogStoreTest, MaxBytesBoundsButReturnsAtLeastOne) {
  store_->Save(std::nullopt, Range(1, 10, 1), std::nullopt, true);
  const uint64_t one = MakeEntry(1, 1).ByteSizeLong();
  for (size_t cache : {size_t{64} << 20, size_t{1}}) {
    Reopen(cache);
    auto got = store_->Entries(1, 11, 0);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->size(), 1u);
    got = store_->Entries(1, 11, 3 * one);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->size(), 3u);
  }
}

TEST_F(LogStoreTest, SnapshotCompactsTheLog) {
  store_->Save(std::nullopt, Range(1, 20, 2), Hard(2, 1, 20), true);
  ASSERT_TRUE(store_->SaveSnapshot(Snap(15, 2, {1, 2, 3})).ok());
  EXPECT_EQ(store_->FirstIndex(), 16u);
  EXPECT_EQ(store_->LastIndex(), 20u);
  EXPECT_EQ(*store_->TermAt(15), 2u);
  EXPECT_EQ(store_->TermAt(14).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(store_->Entries(15, 18, UINT64_MAX).status().code(), absl::StatusCode::kOutOfRange);
  ExpectEntries(16, 20, 2);
  // Older or foreign snapshots are refused.
  EXPECT_EQ(store_->SaveSnapshot(Snap(10, 2, {1})).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->SaveSnapshot(Snap(25, 2, {1})).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->SaveSnapshot(Snap(18, 1, {1})).code(), absl::StatusCode::kFailedPrecondition);
  Reopen();
  EXPECT_EQ(store_->FirstIndex(), 16u);
  EXPECT_EQ(store_->GetSnapshot()->data(), "state@15");
  EXPECT_EQ(store_->GetInitialState()->conf_state.voters_size(), 3);
  ExpectEntries(16, 20, 2);
}

TEST_F(LogStoreTest, InstalledSnapshotReplacesTheLog) {
  store_->Save(std::nullopt, Range(1, 10, 1), Hard(1, 1, 5), true);
  // A leader sends a snapshot at 50; the whole local log goes.
  store_->Save(Snap(50, 3, {1, 2}), {}, Hard(3, 0, 50), false);
  EXPECT_EQ(store_->FirstIndex(), 51u);
  EXPECT_EQ(store_->LastIndex(), 50u);
  EXPECT_EQ(*store_->TermAt(50), 3u);
  EXPECT_EQ(store_->Entries(5, 6, UINT64_MAX).status().code(), absl::StatusCode::kOutOfRange);
  store_->Save(std::nullopt, {MakeEntry(51, 3)}, std::nullopt, true);
  Reopen();
  EXPECT_EQ(store_->FirstIndex(), 51u);
  EXPECT_EQ(store_->LastIndex(), 51u);
  EXPECT_EQ(store_->hard_state().commit(), 50u);
}

TEST_F(LogStoreTest, CommitIndexAloneIsWrittenWithTheNextEntries) {
  store_->Save(std::nullopt, Range(1, 10, 1), Hard(1, 1, 3), true);
  // A Ready that only moves the commit index: kept in memory.
  store_->Save(std::nullopt, {}, Hard(1, 1, 8), false);
  EXPECT_EQ(store_->hard_state().commit(), 8u);
  Reopen();
  EXPECT_EQ(store_->hard_state().commit(), 3u);  // volatile; relearned from the leader
  store_->Save(std::nullopt, {}, Hard(1, 1, 9), false);
  store_->Save(std::nullopt, Range(11, 11, 1), std::nullopt, true);
  Reopen();
  EXPECT_EQ(store_->hard_state().commit(), 9u);
  EXPECT_EQ(store_->hard_state().vote(), 1u);
  // Never reported below the snapshot (which covers applied entries only).
  store_->Save(std::nullopt, {}, Hard(1, 1, 11), false);
  ASSERT_TRUE(store_->SaveSnapshot(Snap(10, 1, {1})).ok());
  Reopen();
  EXPECT_EQ(store_->hard_state().commit(), 10u);
  // A term or vote change is written at once (the core syncs it).
  store_->Save(std::nullopt, {}, Hard(2, 3, 10), true);
  Reopen();
  EXPECT_EQ(store_->hard_state().term(), 2u);
  EXPECT_EQ(store_->hard_state().vote(), 3u);
}

TEST_F(LogStoreTest, SegmentsRotateAndSnapshotsDeleteThem) {
  // 8 KiB segments and ~60-byte entries: over a hundred entries per segment.
  segment_bytes_ = 8 << 10;
  Reopen(/*cache_bytes=*/1);
  for (raft::LogIndex i = 1; i <= 2000; i += 50) {
    store_->Save(std::nullopt, Range(i, i + 49, 2), Hard(2, 1, i + 49), true);
  }
  const size_t before = Segments().size();
  ASSERT_GE(before, 5u);
  Reopen(1);
  ExpectEntries(1, 2000, 2);
  ASSERT_TRUE(store_->SaveSnapshot(Snap(1500, 2, {1, 2, 3})).ok());
  EXPECT_LT(Segments().size(), before);
  EXPECT_EQ(store_->segment_count(), Segments().size());
  ExpectEntries(1501, 2000, 2);
  // The oldest remaining segment starts after a gap the snapshot record
  // closes; the log replays from it.
  store_->Save(std::nullopt, Range(2001, 2010, 2), Hard(2, 1, 2010), true);
  Reopen(1);
  EXPECT_EQ(store_->FirstIndex(), 1501u);
  EXPECT_EQ(store_->LastIndex(), 2010u);
  EXPECT_EQ(store_->GetSnapshot()->data(), "state@1500");
  EXPECT_EQ(store_->hard_state().commit(), 2010u);
  ExpectEntries(1501, 2010, 2);
}

TEST_F(LogStoreTest, CorruptRecordBeforeTheLastSegmentRefusedOnOpen) {
  WriteSeveralSegmentsAndClose();
  const std::vector<std::string> segments = Segments();
  ASSERT_GE(segments.size(), 2u);
  std::string bytes = ReadFile(segments[0]);
  bytes[200] ^= 0x01;  // one flipped bit inside a record
  WriteFile(segments[0], bytes);
  absl::Status s = TryReopen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("checksum"), absl::string_view::npos) << s;
}

TEST_F(LogStoreTest, RecordCopiedElsewhereDoesNotVerify) {
  // A valid record moved to another offset (or segment) fails its checksum,
  // which covers where it was written.
  WriteSeveralSegmentsAndClose();
  const std::vector<std::string> segments = Segments();
  ASSERT_GE(segments.size(), 3u);
  // The second segment's head (snapshot base / hard state / entries) over
  // the first one's.
  const std::string second = ReadFile(segments[1]);
  std::string first = ReadFile(segments[0]);
  first.replace(16, 400, second.substr(16, 400));
  WriteFile(segments[0], first);
  EXPECT_EQ(TryReopen().code(), absl::StatusCode::kDataLoss);
}

TEST_F(LogStoreTest, TornFinalWriteIsCutOff) {
  store_->Save(std::nullopt, Range(1, 5, 1), Hard(1, 1, 3), true);
  store_.reset();
  std::string path = Segments().back();
  const size_t end = DataEnd(ReadFile(path));
  Reopen();
  store_->Save(std::nullopt, Range(6, 6, 1), Hard(2, 2, 3), true);
  store_.reset();
  // Entry 6's batch as a crash in the middle of writing it leaves it: its
  // last bytes never reached the disk.
  std::string bytes = ReadFile(path);
  const size_t end6 = DataEnd(bytes);
  ASSERT_GT(end6, end + 10);
  bytes.replace(end6 - 10, 10, std::string(10, '\0'));
  WriteFile(path, bytes);
  Reopen();
  EXPECT_EQ(store_->LastIndex(), 5u);
  ExpectEntries(1, 5, 1);
  EXPECT_EQ(store_->hard_state().term(), 1u);
  // The remains were zeroed: the next write is followed by zeros only.
  EXPECT_EQ(DataEnd(ReadFile(path)), end);
  store_->Save(std::nullopt, {MakeEntry(6, 2)}, Hard(2, 0, 3), true);
  Reopen();
  EXPECT_EQ(store_->LastIndex(), 6u);
  EXPECT_EQ(*store_->TermAt(6), 2u);
}

TEST_F(LogStoreTest, DamagedLastRecordRefusedOnOpen) {
  // The last record of the log holds the hard state: term and vote. It was
  // written whole and synced, so damage to it is not a torn write: cutting
  // it off would let the replica forget its vote.
  store_->Save(std::nullopt, Range(1, 5, 1), Hard(1, 1, 3), true);
  store_->Save(std::nullopt, Range(6, 6, 2), Hard(2, 3, 3), true);
  store_.reset();
  const std::string path = Segments().back();
  std::string bytes = ReadFile(path);
  const size_t end = DataEnd(bytes);
  bytes[end - 8] ^= 0x04;
  WriteFile(path, bytes);
  absl::Status s = TryReopen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(path), absl::string_view::npos) << s;
  EXPECT_TRUE(ReadFile(path) == bytes) << "a refused open changed the segment";
}

TEST_F(LogStoreTest, DamagedRecordInTheLastSegmentRefusedOnOpen) {
  store_->Save(std::nullopt, Range(1, 5, 1), Hard(1, 1, 3), true);
  store_->Save(std::nullopt, Range(6, 10, 1), Hard(1, 1, 8), true);
  store_.reset();
  const std::string path = Segments().back();
  std::string bytes = ReadFile(path);
  bytes[100] ^= 0x01;  // in the first batch
  WriteFile(path, bytes);
  absl::Status s = TryReopen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("offset"), absl::string_view::npos) << s;
  EXPECT_TRUE(ReadFile(path) == bytes) << "a refused open changed the segment";
}

TEST_F(LogStoreTest, DataAfterTheEndOfTheLogRefusedOnOpen) {
  store_->Save(std::nullopt, Range(1, 5, 1), Hard(1, 1, 3), true);
  store_.reset();
  const std::string path = Segments().back();
  std::string bytes = ReadFile(path);
  bytes[DataEnd(bytes) + 100] = 'x';
  WriteFile(path, bytes);
  EXPECT_EQ(TryReopen().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(ReadFile(path) == bytes) << "a refused open changed the segment";
}

TEST_F(LogStoreTest, MissingSegmentRefusedOnOpen) {
  WriteSeveralSegmentsAndClose();
  std::vector<std::string> segments = Segments();
  ASSERT_GE(segments.size(), 3u);
  std::filesystem::remove(segments[1]);
  absl::Status s = TryReopen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("missing"), absl::string_view::npos) << s;
}

TEST_F(LogStoreTest, HoleRefusedOnOpen) {
  // The oldest segment deleted while no snapshot covers its entries.
  WriteSeveralSegmentsAndClose();
  std::filesystem::remove(Segments().front());
  absl::Status s = TryReopen();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("hole"), absl::string_view::npos) << s;
}

TEST_F(LogStoreTest, AppendWithHoleIsFatal) {
  DeathTestScope scope(dir_.path());
  store_->Save(std::nullopt, Range(1, 5, 1), std::nullopt, true);
  EXPECT_DEATH(store_->Save(std::nullopt, {MakeEntry(8, 1)}, std::nullopt, true), "leaves a hole");
}

// Makes every write to this process's log segments fail, as a dying disk
// would: each segment's descriptor is replaced by a read-only one. Returns
// how many descriptors it replaced.
int BreakSegments(const std::string& log_dir) {
  int broken = 0;
  const int readonly = open("/dev/null", O_RDONLY);
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (ec || target.rfind(log_dir, 0) != 0 || target.size() < 4 ||
        target.substr(target.size() - 4) != ".seg") {
      continue;
    }
    if (dup2(readonly, std::stoi(fd.path().filename().string())) >= 0) ++broken;
  }
  return broken;
}

TEST_F(LogStoreTest, FailedSyncedWriteIsFatal) {
  DeathTestScope scope(dir_.path());
  store_->Save(std::nullopt, Range(1, 5, 1), Hard(1, 1, 5), true);
  // Never acknowledge what was not persisted: the process must stop.
  EXPECT_DEATH(
      {
        if (BreakSegments(std::filesystem::canonical(LogDir()).string()) == 0) {
          std::abort();  // (would not match the expected message)
        }
        store_->Save(std::nullopt, Range(6, 6, 1), Hard(1, 1, 5), true);
      },
      "FATAL: LogStore: write");
}

}  // namespace
}  // namespace synod::storage::testing
