#include "raft/raft_log.h"

#include "gtest/gtest.h"
#include "raft/memory_log_storage.h"

namespace synod::raft {
namespace {

std::vector<Entry> Es(LogIndex first, std::initializer_list<Term> terms) {
  std::vector<Entry> out;
  LogIndex i = first;
  for (Term t : terms) {
    Entry e;
    e.set_index(i++);
    e.set_term(t);
    out.push_back(e);
  }
  return out;
}

class RaftLogTest : public testing::Test {
 protected:
  // Storage holds 1..3 (terms 1 1 2); unstable holds 4..5 (terms 2 3).
  void SetUp() override {
    ASSERT_TRUE(storage_.Append(Es(1, {1, 1, 2})).ok());
    log_ = std::make_unique<RaftLog>(&storage_);
    log_->Append(Es(4, {2, 3}));
  }
  MemoryLogStorage storage_;
  std::unique_ptr<RaftLog> log_;
};

TEST_F(RaftLogTest, IndexesAndTermsSpanStorageAndUnstable) {
  EXPECT_EQ(log_->FirstIndex(), 1u);
  EXPECT_EQ(log_->LastIndex(), 5u);
  EXPECT_EQ(log_->LastTerm(), 3u);
  EXPECT_EQ(*log_->TermAt(3), 2u);
  EXPECT_EQ(*log_->TermAt(4), 2u);
  EXPECT_TRUE(absl::IsNotFound(log_->TermAt(6).status()));
  EXPECT_EQ(log_->StableLastIndex(), 3u);
  EXPECT_EQ(log_->Slice(2, 6, UINT64_MAX)->size(), 4u);
  EXPECT_EQ(log_->Slice(2, 6, 1)->size(), 1u);
}

TEST_F(RaftLogTest, IsUpToDate) {
  EXPECT_TRUE(log_->IsUpToDate(5, 3));
  EXPECT_TRUE(log_->IsUpToDate(1, 4));   // higher last term wins
  EXPECT_FALSE(log_->IsUpToDate(9, 2));  // lower last term loses
  EXPECT_FALSE(log_->IsUpToDate(4, 3));  // same term, shorter
}

TEST_F(RaftLogTest, MaybeAppend) {
  // Mismatch at the previous entry: rejected.
  std::vector<Entry> ents = Es(6, {3});
  EXPECT_FALSE(log_->MaybeAppend(5, 2, 5, &ents).has_value());
  // Match, conflicting tail replaced, commit bounded by the new entries.
  ents = Es(5, {4, 4});
  EXPECT_EQ(*log_->MaybeAppend(4, 2, 10, &ents), 6u);
  EXPECT_EQ(log_->LastIndex(), 6u);
  EXPECT_EQ(*log_->TermAt(5), 4u);
  EXPECT_EQ(log_->committed(), 6u);
  // Entries already present change nothing, and the commit index does not
  // move back.
  ents = Es(2, {1});
  EXPECT_EQ(*log_->MaybeAppend(1, 1, 2, &ents), 2u);
  EXPECT_EQ(log_->LastIndex(), 6u);
  EXPECT_EQ(log_->committed(), 6u);
}

TEST_F(RaftLogTest, OverwritingCommittedEntryDies) {
  log_->CommitTo(4);
  std::vector<Entry> ents = Es(4, {9});
  EXPECT_DEATH((void)log_->MaybeAppend(3, 2, 4, &ents), "conflicts with the committed prefix");
}

TEST_F(RaftLogTest, FindConflictByTerm) {
  // Log terms: 1 1 2 2 3.
  EXPECT_EQ(log_->FindConflictByTerm(5, 2), std::make_pair(LogIndex{4}, Term{2}));
  EXPECT_EQ(log_->FindConflictByTerm(5, 1), std::make_pair(LogIndex{2}, Term{1}));
  EXPECT_EQ(log_->FindConflictByTerm(5, 3), std::make_pair(LogIndex{5}, Term{3}));
  EXPECT_EQ(log_->FindConflictByTerm(9, 3), std::make_pair(LogIndex{9}, Term{0}));  // past end
}

TEST_F(RaftLogTest, CommitOnlyOfMatchingTermAndNextCommitted) {
  EXPECT_FALSE(log_->MaybeCommit(5, 2));  // entry 5 has term 3
  EXPECT_TRUE(log_->MaybeCommit(4, 2));
  EXPECT_EQ(log_->committed(), 4u);
  EXPECT_TRUE(log_->HasNextCommittedEntries());
  std::vector<Entry> next = log_->NextCommittedEntries(0);
  ASSERT_EQ(next.size(), 4u);
  log_->AcceptApplying(4);
  EXPECT_FALSE(log_->HasNextCommittedEntries());
  log_->AppliedTo(4);
  EXPECT_EQ(log_->applied(), 4u);
  log_->CommitTo(2);  // never moves back
  EXPECT_EQ(log_->committed(), 4u);
}

TEST_F(RaftLogTest, StableToMovesEntriesToStorage) {
  log_->mutable_unstable().TakePendingEntries();
  ASSERT_TRUE(storage_.Append(Es(4, {2, 3})).ok());
  log_->StableTo(5, 3);
  EXPECT_EQ(log_->StableLastIndex(), 5u);
  EXPECT_EQ(log_->LastIndex(), 5u);
  EXPECT_EQ(*log_->TermAt(5), 3u);
}

TEST_F(RaftLogTest, RestoreSnapshot) {
  Snapshot snap;
  snap.mutable_metadata()->set_index(20);
  snap.mutable_metadata()->set_term(5);
  log_->Restore(snap);
  EXPECT_EQ(log_->committed(), 20u);
  EXPECT_EQ(log_->FirstIndex(), 21u);
  EXPECT_EQ(log_->LastIndex(), 20u);
  EXPECT_EQ(*log_->TermAt(20), 5u);
  // The old durable log is obsolete under the snapshot.
  EXPECT_TRUE(absl::IsOutOfRange(log_->TermAt(3).status()));
  EXPECT_FALSE(log_->HasNextCommittedEntries());
  EXPECT_EQ(log_->StableLastIndex(), 0u);
}

TEST_F(RaftLogTest, CompactedSliceIsOutOfRange) {
  ConfState cs;
  ASSERT_TRUE(storage_.CreateSnapshot(2, cs, "").ok());
  ASSERT_TRUE(storage_.Compact(2).ok());
  EXPECT_EQ(log_->FirstIndex(), 3u);
  EXPECT_TRUE(absl::IsOutOfRange(log_->Slice(1, 4, UINT64_MAX).status()));
  EXPECT_TRUE(absl::IsOutOfRange(log_->TermAt(1).status()));
  EXPECT_EQ(*log_->TermAt(2), 1u);
}

}  // namespace
}  // namespace synod::raft

namespace synod::raft {
namespace {

TEST(RaftLogConfTest, ReportsCommittedMembershipChangeOnce) {
  MemoryLogStorage storage;
  RaftLog log(&storage);
  std::vector<Entry> ents = Es(1, {1, 1, 1});
  ents[1].set_type(raftpb::ENTRY_CONF_CHANGE);
  log.Append(std::move(ents));
  log.CommitTo(1);
  EXPECT_FALSE(log.TakeConfChangeCommitted());
  log.CommitTo(3);
  EXPECT_TRUE(log.TakeConfChangeCommitted());
  EXPECT_FALSE(log.TakeConfChangeCommitted());
  // A replaced uncommitted change is forgotten.
  std::vector<Entry> more = Es(4, {1});
  more[0].set_type(raftpb::ENTRY_CONF_CHANGE);
  log.Append(std::move(more));
  log.Append(Es(4, {2}));
  log.CommitTo(4);
  EXPECT_FALSE(log.TakeConfChangeCommitted());
}

}  // namespace
}  // namespace synod::raft
