#include "raft/memory_log_storage.h"

#include "gtest/gtest.h"

namespace synod::raft {
namespace {

Entry E(LogIndex index, Term term, std::string data = "") {
  Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

std::vector<Entry> Es(std::initializer_list<std::pair<LogIndex, Term>> ids) {
  std::vector<Entry> out;
  for (auto [i, t] : ids) out.push_back(E(i, t));
  return out;
}

TEST(MemoryLogStorageTest, EmptyStorage) {
  MemoryLogStorage s;
  EXPECT_EQ(s.FirstIndex(), 1u);
  EXPECT_EQ(s.LastIndex(), 0u);
  EXPECT_EQ(*s.TermAt(0), 0u);
  EXPECT_TRUE(absl::IsNotFound(s.TermAt(1).status()));
}

TEST(MemoryLogStorageTest, AppendTruncatesConflictingTail) {
  MemoryLogStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 1}, {3, 1}})).ok());
  ASSERT_TRUE(s.Append(Es({{2, 2}, {3, 2}, {4, 2}})).ok());
  EXPECT_EQ(s.LastIndex(), 4u);
  EXPECT_EQ(*s.TermAt(1), 1u);
  EXPECT_EQ(*s.TermAt(2), 2u);
  ASSERT_TRUE(s.Append(Es({{3, 3}})).ok());  // drops 4
  EXPECT_EQ(s.LastIndex(), 3u);
  EXPECT_TRUE(absl::IsOutOfRange(s.Append(Es({{5, 3}}))));  // gap
}

TEST(MemoryLogStorageTest, EntriesHonoursBoundsAndSize) {
  MemoryLogStorage s;
  std::vector<Entry> ents;
  for (LogIndex i = 1; i <= 5; ++i) ents.push_back(E(i, 1, std::string(100, 'x')));
  ASSERT_TRUE(s.Append(ents).ok());
  EXPECT_EQ(s.Entries(1, 6, UINT64_MAX)->size(), 5u);
  EXPECT_EQ(s.Entries(2, 4, UINT64_MAX)->size(), 2u);
  EXPECT_EQ(s.Entries(1, 6, 250)->size(), 2u);  // 116 bytes each
  EXPECT_EQ(s.Entries(1, 6, 1)->size(), 1u);    // at least one
  EXPECT_TRUE(absl::IsNotFound(s.Entries(1, 7, UINT64_MAX).status()));
}

TEST(MemoryLogStorageTest, SnapshotAndCompact) {
  MemoryLogStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 1}, {3, 2}, {4, 2}, {5, 3}})).ok());
  ConfState cs;
  cs.add_voters(1);
  // Compaction may not pass the latest snapshot.
  EXPECT_TRUE(absl::IsFailedPrecondition(s.Compact(2)));
  absl::StatusOr<Snapshot> snap = s.CreateSnapshot(4, cs, "state");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->metadata().term(), 2u);
  EXPECT_TRUE(absl::IsFailedPrecondition(s.CreateSnapshot(3, cs, "").status()));
  ASSERT_TRUE(s.Compact(3).ok());
  EXPECT_EQ(s.FirstIndex(), 4u);
  EXPECT_EQ(*s.TermAt(3), 2u);  // the compacted index keeps its term
  EXPECT_TRUE(absl::IsOutOfRange(s.TermAt(2).status()));
  EXPECT_TRUE(absl::IsOutOfRange(s.Entries(3, 5, UINT64_MAX).status()));
  EXPECT_EQ(s.Entries(4, 6, UINT64_MAX)->size(), 2u);
  EXPECT_TRUE(absl::IsFailedPrecondition(s.Compact(3)));
  EXPECT_EQ(s.GetSnapshot()->data(), "state");
}

TEST(MemoryLogStorageTest, ApplySnapshotReplacesTheLog) {
  MemoryLogStorage s;
  ASSERT_TRUE(s.Append(Es({{1, 1}, {2, 1}})).ok());
  Snapshot snap;
  snap.mutable_metadata()->set_index(10);
  snap.mutable_metadata()->set_term(4);
  snap.mutable_metadata()->mutable_conf_state()->add_voters(7);
  ASSERT_TRUE(s.ApplySnapshot(snap).ok());
  EXPECT_EQ(s.FirstIndex(), 11u);
  EXPECT_EQ(s.LastIndex(), 10u);
  EXPECT_EQ(*s.TermAt(10), 4u);
  EXPECT_EQ(s.GetInitialState()->conf_state.voters(0), 7u);
  snap.mutable_metadata()->set_index(5);
  EXPECT_TRUE(absl::IsFailedPrecondition(s.ApplySnapshot(snap)));
  // Entries older than the snapshot are skipped on append.
  ASSERT_TRUE(s.Append(Es({{9, 4}, {10, 4}, {11, 4}})).ok());
  EXPECT_EQ(s.LastIndex(), 11u);
}

TEST(MemoryLogStorageTest, Bootstrap) {
  MemoryLogStorage s;
  ConfState cs;
  cs.add_voters(1);
  cs.add_voters(2);
  ASSERT_TRUE(s.Bootstrap(cs).ok());
  EXPECT_EQ(s.FirstIndex(), 2u);
  EXPECT_EQ(s.LastIndex(), 1u);
  EXPECT_EQ(s.GetInitialState()->hard_state.term(), 1u);
  EXPECT_EQ(s.GetInitialState()->hard_state.commit(), 1u);
  EXPECT_EQ(s.GetSnapshot()->metadata().conf_state().voters_size(), 2);
  EXPECT_TRUE(absl::IsFailedPrecondition(s.Bootstrap(cs)));
}

}  // namespace
}  // namespace synod::raft
