#include "raft/unstable_log.h"

#include "gtest/gtest.h"

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

TEST(UnstableLogTest, IndexesAndTerms) {
  UnstableLog u(5);
  EXPECT_FALSE(u.MaybeLastIndex());
  EXPECT_FALSE(u.MaybeFirstIndex());
  u.TruncateAndAppend(Es(5, {1, 1, 2}));
  EXPECT_EQ(*u.MaybeLastIndex(), 7u);
  EXPECT_EQ(*u.MaybeTerm(7), 2u);
  EXPECT_FALSE(u.MaybeTerm(4));
  EXPECT_FALSE(u.MaybeTerm(8));
}

TEST(UnstableLogTest, TruncateAndAppend) {
  UnstableLog u(5);
  u.TruncateAndAppend(Es(5, {1, 1, 1}));
  u.TruncateAndAppend(Es(8, {1}));  // directly after
  EXPECT_EQ(*u.MaybeLastIndex(), 8u);
  u.TruncateAndAppend(Es(7, {2, 2}));  // replaces 7, 8
  EXPECT_EQ(u.entries().size(), 4u);
  EXPECT_EQ(*u.MaybeTerm(7), 2u);
  u.TruncateAndAppend(Es(3, {3}));  // before the offset: replaces everything
  EXPECT_EQ(u.offset(), 3u);
  EXPECT_EQ(*u.MaybeLastIndex(), 3u);
}

TEST(UnstableLogTest, InProgressAndStableTo) {
  UnstableLog u(1);
  u.TruncateAndAppend(Es(1, {1, 1, 1}));
  EXPECT_TRUE(u.HasPendingEntries());
  std::vector<Entry> taken = u.TakePendingEntries();
  EXPECT_EQ(taken.size(), 3u);
  EXPECT_FALSE(u.HasPendingEntries());
  u.TruncateAndAppend(Es(4, {1}));
  EXPECT_EQ(u.TakePendingEntries().size(), 1u);  // only the new one
  u.StableTo(3, 1);
  EXPECT_EQ(u.offset(), 4u);
  EXPECT_EQ(u.entries().size(), 1u);
  // A stale acknowledgement (entry replaced with another term) is ignored.
  u.TruncateAndAppend(Es(4, {2}));
  u.StableTo(4, 1);
  EXPECT_EQ(u.offset(), 4u);
  EXPECT_TRUE(u.HasPendingEntries());  // the replacement must be written
  u.StableTo(4, 2);
  EXPECT_EQ(u.offset(), 5u);
  EXPECT_TRUE(u.entries().empty());
}

TEST(UnstableLogTest, Snapshot) {
  UnstableLog u(3);
  u.TruncateAndAppend(Es(3, {1, 1}));
  Snapshot snap;
  snap.mutable_metadata()->set_index(10);
  snap.mutable_metadata()->set_term(3);
  u.Restore(snap);
  EXPECT_EQ(u.offset(), 11u);
  EXPECT_TRUE(u.entries().empty());
  EXPECT_EQ(*u.MaybeFirstIndex(), 11u);
  EXPECT_EQ(*u.MaybeLastIndex(), 10u);
  EXPECT_EQ(*u.MaybeTerm(10), 3u);
  EXPECT_TRUE(u.HasPendingSnapshot());
  EXPECT_TRUE(u.TakePendingSnapshot().has_value());
  EXPECT_FALSE(u.HasPendingSnapshot());
  u.StableSnapTo(10);
  EXPECT_FALSE(u.snapshot().has_value());
}

}  // namespace
}  // namespace synod::raft
