// The Raft log under disk faults and power cuts (FaultFileIO): after each,
// the replica either recovers every entry, term and vote it acknowledged,
// or refuses to start with DATA_LOSS, never starts with less; and a failed
// write or sync stops it.
#include <cerrno>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/fault_file_io.h"
#include "storage/log_segments.h"
#include "storage/log_store.h"
#include "storage/log_test_util.h"

namespace synod::storage::testing {
namespace {

constexpr char kDir[] = "/data/raftlog";

absl::StatusOr<std::unique_ptr<LogStore>> OpenLog(FaultFileIO* io, uint64_t segment_bytes = 2048) {
  // cache_bytes 1: reads come from the files.
  return LogStore::Open(LogOptions(kDir, segment_bytes, /*cache_bytes=*/1, io));
}

// What the store acknowledged: every call that returned before the crash.
struct Acked {
  std::map<raft::LogIndex, raft::Term> terms;  // entries after the snapshot
  raft::LogIndex snapshot = 0;
  raft::HardState hard;

  void Entries(const std::vector<raft::Entry>& entries) {
    if (entries.empty()) return;
    terms.erase(terms.lower_bound(entries.front().index()), terms.end());
    for (const raft::Entry& e : entries) terms[e.index()] = e.term();
  }
  raft::LogIndex last() const { return terms.empty() ? snapshot : terms.rbegin()->first; }
};

// Whether the recovered store holds all of `acked` (it may hold more:
// writes that completed without being acknowledged); if not, why.
std::string Missing(LogStore* store, const Acked& acked) {
  const raft::HardState hard = store->hard_state();
  if (hard.term() < acked.hard.term()) return absl::StrCat("term ", hard.term(), " went back");
  if (hard.term() == acked.hard.term() && hard.vote() != acked.hard.vote()) {
    return absl::StrCat("vote in term ", hard.term(), " changed");  // one vote per term
  }
  if (store->LastIndex() < acked.last()) {
    return absl::StrCat("log ends at ", store->LastIndex(), ", before ", acked.last());
  }
  const raft::LogIndex first = store->FirstIndex();
  if (first < acked.snapshot + 1) return absl::StrCat("snapshot went back to ", first - 1);
  for (const auto& [index, term] : acked.terms) {
    if (index < first - 1) continue;  // covered by a (newer) snapshot
    absl::StatusOr<raft::Term> got = store->TermAt(index);
    if (!got.ok() || *got != term) return absl::StrCat("entry ", index, " lost or changed");
    if (index < first) continue;
    absl::StatusOr<std::vector<raft::Entry>> entry = store->Entries(index, index + 1, UINT64_MAX);
    if (!entry.ok() || entry->front().data() != MakeEntry(index, term).data()) {
      return absl::StrCat("entry ", index, " unreadable or changed");
    }
  }
  return "";
}

// The recovered store holds what was acknowledged, or that and the call
// the crash interrupted (all of whose write reached the disk). An
// interrupted call may replace acknowledged entries that were never
// committed (a new leader's log wins, §5.3): that is Raft, not a loss.
void ExpectHolds(LogStore* store, const Acked& acked, const Acked& attempted,
                 const std::string& where) {
  const std::string missing = Missing(store, acked);
  if (missing.empty()) return;
  const std::string missing_attempted = Missing(store, attempted);
  EXPECT_TRUE(missing_attempted.empty())
      << where << ": " << missing << " (or, counting the interrupted call: " << missing_attempted
      << ")";
}

// A history with rotations, a snapshot that deletes segments, a
// conflicting tail, term and vote changes; `acked` gets what each call
// acknowledged, up to the one during which the disk crashed.
void RunHistory(LogStore* store, FaultFileIO* io, Acked* acked, Acked* attempted) {
  *attempted = *acked;
  const auto save = [&](std::vector<raft::Entry> entries, std::optional<raft::HardState> hard) {
    Acked next = *acked;
    next.Entries(entries);
    if (hard.has_value()) next.hard = *hard;
    store->Save(std::nullopt, std::move(entries), hard, /*sync=*/true);
    *attempted = next;
    if (io->crashed()) return false;
    *acked = next;
    return true;
  };
  raft::Term term = 1;
  if (!save(Range(1, 10, 1), Hard(1, 2, 5))) return;
  raft::LogIndex next = 11;
  for (int batch = 0; batch < 16; ++batch) {
    if (batch % 5 == 4) ++term;  // a new term, a vote in it
    if (!save(Range(next, next + 7, term), Hard(term, 1 + term % 3, next))) return;
    next += 8;
  }
  const absl::Status snapshot = store->SaveSnapshot(Snap(100, acked->terms.at(100)));
  EXPECT_TRUE(snapshot.ok()) << snapshot;
  attempted->snapshot = 100;
  attempted->terms.erase(attempted->terms.begin(), attempted->terms.upper_bound(100));
  if (!snapshot.ok() || io->crashed()) return;
  *acked = *attempted;
  // A new leader replaces the last three entries (§5.3).
  ++term;
  next -= 3;
  if (!save(Range(next, next + 1, term), Hard(term, 1 + term % 3, 100))) return;
  next += 2;
  // A vote in a new term, alone (synced: Raft requires it before replying).
  ++term;
  if (!save({}, Hard(term, 1 + term % 3, 100))) return;
  for (int batch = 0; batch < 6; ++batch) {
    if (!save(Range(next, next + 7, term), Hard(term, 1 + term % 3, next))) return;
    next += 8;
  }
}

TEST(LogFaultsTest, PowerCutAtEveryStepLosesNothingAcknowledged) {
  // A run without faults numbers every file operation of the history.
  std::vector<std::string> trace;
  {
    FaultFileIO io;
    auto store = OpenLog(&io);
    ASSERT_TRUE(store.ok()) << store.status();
    Acked acked, attempted;
    RunHistory(store->get(), &io, &acked, &attempted);
    trace = io.trace();
    ASSERT_GT(acked.last(), 150u);
  }
  size_t rotations = 0, deletions = 0;
  for (const std::string& line : trace) {
    if (line.rfind("rename", 0) == 0 && line.find(".seg") != std::string::npos) ++rotations;
    if (line.rfind("unlink", 0) == 0) ++deletions;
  }
  ASSERT_GE(rotations, 4u);
  ASSERT_GE(deletions, 2u);

  int recovered = 0;
  for (uint64_t op = 0; op < trace.size(); ++op) {
    for (int mode = 0; mode < 4; ++mode) {
      const bool keep_data = mode & 1;
      const bool keep_names = mode & 2;
      const std::string where = absl::StrCat("crash at op ", op, " (", trace[op],
                                             "), keep_data=", keep_data,
                                             " keep_names=", keep_names);
      FaultFileIO io;
      Acked acked, attempted;
      io.CrashAtOp(op, FaultFileIO::WriteSize(trace[op]) / 2);  // a pwrite is torn in half
      {
        auto store = OpenLog(&io);
        ASSERT_TRUE(store.ok()) << store.status();
        RunHistory(store->get(), &io, &acked, &attempted);
      }
      io.PowerCut(keep_data, keep_names);
      auto store = OpenLog(&io);
      // Every fault here is a crash, never damage: recovery must not refuse.
      ASSERT_TRUE(store.ok()) << where << ": " << store.status();
      ExpectHolds(store->get(), acked, attempted, where);
      // The recovered log takes new writes and keeps them.
      const raft::LogIndex last = (*store)->LastIndex();
      const raft::Term term = (*store)->hard_state().term() + 1;
      (*store)->Save(std::nullopt, {MakeEntry(last + 1, term)}, Hard(term, 1, 0), true);
      store->reset();
      store = OpenLog(&io);
      ASSERT_TRUE(store.ok()) << where << ": " << store.status();
      EXPECT_EQ((*store)->LastIndex(), last + 1) << where;
      ++recovered;
    }
  }
  EXPECT_EQ(recovered, static_cast<int>(4 * trace.size()));
}

// The byte-by-byte tear of one batch: `Prepare` writes what is acknowledged,
// then the batch `Save` writes is cut after each of its bytes in turn.
// `segment_start`: the batch must be the first of its segment.
void TearEveryByte(const std::function<void(LogStore*, Acked*)>& prepare,
                   const std::vector<raft::Entry>& batch, const raft::HardState& hard,
                   bool segment_start) {
  // Find the batch's write and its size.
  uint64_t write_op = 0;
  size_t size = 0;
  {
    FaultFileIO io;
    auto store = OpenLog(&io);
    ASSERT_TRUE(store.ok()) << store.status();
    Acked acked;
    prepare(store->get(), &acked);
    const uint64_t before = io.ops();
    (*store)->Save(std::nullopt, batch, hard, true);
    const std::vector<std::string> trace = io.trace();
    for (uint64_t op = before; op < trace.size() && size == 0; ++op) {
      if (trace[op].rfind("pwrite", 0) == 0 && trace[op].find(".seg ") != std::string::npos) {
        write_op = op;
        size = FaultFileIO::WriteSize(trace[op]);
        EXPECT_EQ(trace[op].find(".seg 0 ") != std::string::npos, segment_start) << trace[op];
      }
    }
    ASSERT_GT(size, 0u);
  }
  for (size_t torn = 0; torn <= size; ++torn) {
    const std::string where = absl::StrCat(torn, " of ", size, " bytes written");
    FaultFileIO io;
    Acked acked;
    io.CrashAtOp(write_op, torn);
    {
      auto store = OpenLog(&io);
      ASSERT_TRUE(store.ok()) << store.status();
      prepare(store->get(), &acked);
      (*store)->Save(std::nullopt, batch, hard, true);
      ASSERT_TRUE(io.crashed());
    }
    io.PowerCut(/*keep_data=*/true, /*keep_names=*/true);
    auto store = OpenLog(&io);
    ASSERT_TRUE(store.ok()) << where << ": " << store.status();
    ExpectHolds(store->get(), acked, acked, where);
    // All of it reached the disk (only the sync did not happen) or none.
    const raft::LogIndex expect = torn == size ? batch.back().index() : acked.last();
    EXPECT_EQ((*store)->LastIndex(), expect) << where;
    // The torn remains are gone: a new batch after them reads back.
    const raft::LogIndex last = (*store)->LastIndex();
    (*store)->Save(std::nullopt, {MakeEntry(last + 1, 9)}, Hard(9, 1, 0), true);
    store->reset();
    store = OpenLog(&io);
    ASSERT_TRUE(store.ok()) << where << ": " << store.status();
    EXPECT_EQ((*store)->LastIndex(), last + 1) << where;
    EXPECT_EQ(*(*store)->TermAt(last + 1), 9u) << where;
    EXPECT_EQ((*store)->hard_state().term(), 9u) << where;
  }
}

TEST(LogFaultsTest, TornWriteAtEveryByteOfABatch) {
  TearEveryByte(
      [](LogStore* store, Acked* acked) {
        store->Save(std::nullopt, Range(1, 5, 1), Hard(1, 2, 3), true);
        acked->Entries(Range(1, 5, 1));
        acked->hard = Hard(1, 2, 3);
      },
      Range(6, 7, 2), Hard(2, 3, 5), /*segment_start=*/false);
}

TEST(LogFaultsTest, TornWriteAtEveryByteOfASegmentsFirstBatch) {
  // A batch too large for the rest of the segment starts the next one; its
  // write carries the segment header and the snapshot and hard state the
  // segment opens with.
  TearEveryByte(
      [](LogStore* store, Acked* acked) {
        store->Save(Snap(2, 1), {}, Hard(1, 2, 2), true);
        acked->snapshot = 2;
        acked->hard = Hard(1, 2, 2);
        store->Save(std::nullopt, Range(3, 12, 1), Hard(1, 2, 5), true);
        acked->Entries(Range(3, 12, 1));
        acked->hard = Hard(1, 2, 5);
        EXPECT_EQ(store->segment_count(), 1u);
      },
      Range(13, 45, 1), Hard(2, 3, 12), /*segment_start=*/true);
}

// A log of several segments, closed, and where each record is.
class DamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      auto store = OpenLog(&io_);
      ASSERT_TRUE(store.ok()) << store.status();
      for (raft::LogIndex i = 1; i <= 120; i += 8) {
        (*store)->Save(std::nullopt, Range(i, i + 7, 1), Hard(1, 2, i), true);
      }
      ASSERT_GE((*store)->segment_count(), 3u);
    }
    LogSegments::Options options;
    options.dir = kDir;
    options.segment_bytes = 2048;
    options.io = &io_;
    options.background_spare = false;
    auto segments = LogSegments::Open(
        options, [&](RecordType, std::string_view, const RecordLocation& at) {
          records_[at.segment].push_back(at);
          return absl::OkStatus();
        });
    ASSERT_TRUE(segments.ok()) << segments.status();
  }

  std::string SegmentPath(uint32_t seq) const {
    char name[32];
    std::snprintf(name, sizeof(name), "/%016x.seg", seq);
    return std::string(kDir) + name;
  }
  uint32_t LastSegment() const { return records_.rbegin()->first; }

  // Where the batches of a segment start (log_segments.h: each is a u32
  // size, a u32 CRC, the records and a 4-byte end mark).
  std::vector<uint64_t> BatchOffsets(const std::string& path) const {
    const std::string bytes = io_.Contents(path);
    std::vector<uint64_t> out;
    uint64_t at = LogSegments::kHeaderBytes;
    while (at + LogSegments::kBatchHeaderBytes <= bytes.size()) {
      uint32_t size = 0;
      for (int i = 3; i >= 0; --i) size = (size << 8) | static_cast<uint8_t>(bytes[at + i]);
      if (size == 0) break;
      out.push_back(at);
      at += LogSegments::kBatchHeaderBytes + size + LogSegments::kBatchEndBytes;
    }
    return out;
  }

  std::map<std::string, std::string> Files() {
    std::map<std::string, std::string> out;
    absl::StatusOr<std::vector<std::string>> names = io_.List(kDir);
    EXPECT_TRUE(names.ok()) << names.status();
    if (!names.ok()) return out;
    for (const std::string& name : *names) {
      out[name] = io_.Contents(std::string(kDir) + "/" + name);
    }
    return out;
  }

  // Flips one bit in the middle of the body of record `which` of segment
  // `seq`; expects Open to refuse with DATA_LOSS naming the file, and to
  // change no file.
  void FlipAndExpectRefused(uint32_t seq, size_t which) {
    const RecordLocation at = records_.at(seq).at(which);
    const std::string path = SegmentPath(seq);
    const uint64_t offset = at.offset + LogSegments::kRecordHeaderBytes + at.size / 2;
    std::string byte = io_.Contents(path).substr(offset, 1);
    byte[0] = static_cast<char>(byte[0] ^ 0x10);
    io_.Damage(path, offset, byte);
    ExpectRefused(path, absl::StrCat("record at offset ", at.offset));
  }

  void ExpectRefused(const std::string& path, const std::string& detail) {
    const std::map<std::string, std::string> before = Files();
    auto store = OpenLog(&io_);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
    EXPECT_NE(store.status().message().find(path), std::string::npos) << store.status();
    EXPECT_NE(store.status().message().find(detail), std::string::npos) << store.status();
    EXPECT_TRUE(Files() == before) << "a refused open changed the files";
  }

  FaultFileIO io_;
  std::map<uint32_t, std::vector<RecordLocation>> records_;
};

TEST_F(DamageTest, BitFlipInTheLastSegmentFirstRecord) { FlipAndExpectRefused(LastSegment(), 0); }

TEST_F(DamageTest, BitFlipInTheLastSegmentMiddleRecord) {
  FlipAndExpectRefused(LastSegment(), records_.at(LastSegment()).size() / 2);
}

TEST_F(DamageTest, BitFlipInTheLastSegmentLastRecord) {
  // The last record of the log: the hard state of the last acknowledged
  // batch, with the vote. A torn write never looks like this.
  FlipAndExpectRefused(LastSegment(), records_.at(LastSegment()).size() - 1);
}

TEST_F(DamageTest, BitFlipInAnEarlierSegmentFirstRecord) { FlipAndExpectRefused(1, 0); }

TEST_F(DamageTest, BitFlipInAnEarlierSegmentMiddleRecord) {
  FlipAndExpectRefused(1, records_.at(1).size() / 2);
}

TEST_F(DamageTest, BitFlipInAnEarlierSegmentLastRecord) {
  FlipAndExpectRefused(1, records_.at(1).size() - 1);
}

TEST_F(DamageTest, BitFlipInTheLastBatchHeader) {
  const std::string path = SegmentPath(LastSegment());
  const uint64_t header = BatchOffsets(path).back();
  io_.Damage(path, header + 1, std::string(1, io_.Contents(path)[header + 1] ^ 0x01));
  ExpectRefused(path, absl::StrCat("offset ", header));
}

TEST_F(DamageTest, ZeroedBatchInTheMiddleOfTheLastSegment) {
  // A lost sector where a batch header was, acknowledged batches after it.
  const std::string path = SegmentPath(LastSegment());
  const std::vector<uint64_t> batches = BatchOffsets(path);
  ASSERT_GE(batches.size(), 2u);
  io_.Damage(path, batches[0], std::string(LogSegments::kBatchHeaderBytes + 20, '\0'));
  ExpectRefused(path, absl::StrCat("offset ", batches[0]));
}

TEST_F(DamageTest, DataAfterTheEndOfTheLog) {
  const std::string path = SegmentPath(LastSegment());
  const std::string bytes = io_.Contents(path);
  const size_t end = bytes.find_last_not_of('\0') + 1;
  ASSERT_LT(end + 100, bytes.size());
  io_.Damage(path, end + 90, "x");
  ExpectRefused(path, absl::StrCat("offset ", end));
}

TEST_F(DamageTest, BadSegmentHeader) {
  const std::string path = SegmentPath(LastSegment());
  io_.Damage(path, 2, "x");
  ExpectRefused(path, "bad header");
}

// A failed write or sync stops the replica: it never acknowledges what
// may not be on the disk, and never retries a failed fdatasync (the kernel
// may have dropped the pages it could not write).
class WriteFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenLog(&io_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    store_->Save(std::nullopt, Range(1, 5, 1), Hard(1, 1, 3), true);
  }
  // The number of the first operation of kind `kind` the next Save of one
  // entry performs (found on a copy of this log: same state, same order).
  uint64_t NextOp(const std::string& kind, size_t entries = 1) {
    FaultFileIO probe;
    auto store = OpenLog(&probe);
    EXPECT_TRUE(store.ok());
    (*store)->Save(std::nullopt, Range(1, 5, 1), Hard(1, 1, 3), true);
    const uint64_t before = probe.ops();
    (*store)->Save(std::nullopt, Range(6, 5 + entries, 1), std::nullopt, true);
    const std::vector<std::string> trace = probe.trace();
    for (uint64_t op = before; op < trace.size(); ++op) {
      if (trace[op].rfind(kind, 0) == 0) return io_.ops() + (op - before);
    }
    ADD_FAILURE() << "no " << kind;
    return 0;
  }

  FaultFileIO io_;
  std::unique_ptr<LogStore> store_;
};

TEST_F(WriteFailureTest, FailedSyncIsFatal) {
  io_.FailAtOp(NextOp("datasync"), EIO);
  EXPECT_DEATH(store_->Save(std::nullopt, Range(6, 6, 1), std::nullopt, true),
               "FATAL: LogStore: sync .*Input/output error");
}

TEST_F(WriteFailureTest, FullDiskOnWriteIsFatal) {
  io_.FailAtOp(NextOp("pwrite"), ENOSPC);
  EXPECT_DEATH(store_->Save(std::nullopt, Range(6, 6, 1), std::nullopt, true),
               "FATAL: LogStore: write .*No space left on device");
}

TEST_F(WriteFailureTest, WriteErrorIsFatal) {
  io_.FailAtOp(NextOp("pwrite"), EIO);
  EXPECT_DEATH(store_->Save(std::nullopt, Range(6, 6, 1), std::nullopt, true),
               "FATAL: LogStore: write .*Input/output error");
}

TEST(LogFaultsTest, FullDiskWhenNoSegmentCanBeMadeIsFatal) {
  // The spare segment cannot be made at Open (not fatal: logged), nor the
  // segment the first write needs: the writer stops.
  uint64_t spare = 0;
  {
    FaultFileIO probe;
    ASSERT_TRUE(OpenLog(&probe).ok());
    const std::vector<std::string> trace = probe.trace();
    while (spare < trace.size() && trace[spare].rfind("create", 0) != 0) ++spare;
    ASSERT_LT(spare, trace.size());
  }
  FaultFileIO io;
  io.FailAtOp(spare, ENOSPC);
  auto store = OpenLog(&io);
  ASSERT_TRUE(store.ok()) << store.status();
  // Its own attempt is the next operation.
  io.FailAtOp(io.ops(), ENOSPC);
  EXPECT_DEATH((*store)->Save(std::nullopt, Range(1, 5, 1), Hard(1, 1, 3), true),
               "FATAL: LogStore: open .*\\.seg\\.tmp: No space left on device");
}

TEST_F(WriteFailureTest, FullDiskWhenPreparingTheNextSegmentIsNotFatal) {
  // At rotation the next segment is prepared; if the disk is full then,
  // the log goes on, and the rotation after makes the segment itself.
  // 40 entries do not fit the rest of the first segment, 40 more not the
  // rest of the second.
  io_.FailAtOp(NextOp("create", 40), ENOSPC);
  store_->Save(std::nullopt, Range(6, 45, 1), Hard(1, 1, 25), true);
  EXPECT_EQ(store_->segment_count(), 2u);
  store_->Save(std::nullopt, Range(46, 85, 1), Hard(1, 1, 50), true);
  EXPECT_EQ(store_->segment_count(), 3u);
  store_.reset();
  auto store = OpenLog(&io_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->LastIndex(), 85u);
  EXPECT_EQ((*store)->hard_state().commit(), 50u);
}

}  // namespace
}  // namespace synod::storage::testing
