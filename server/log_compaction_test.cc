// LogCompaction against a real RawNode and MemoryLogStorage: member 1 leads
// alone and appends entries; "files" are the indexes the test reports as
// written.
#include "server/log_compaction.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/raw_node_testing.h"
#include "storage/snapshot_descriptor.h"

namespace synod::server {
namespace {

using testing::TestCore;

class LogCompactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core_.LeadAlone();
    Membership::Point start;
    start.index = 1;
    start.conf_state.add_voters(1);
    start.members[1].set_id(1);
    start.members[1].set_peer_addr("a:1");
    membership_.Reset(start);
    // Entries up to index 20.
    while (core_.storage()->LastIndex() < 20) {
      ASSERT_TRUE(core_.node()->Propose("x").ok());
      core_.Drain();
    }
  }

  LogCompaction::Hooks Hooks() {
    LogCompaction::Hooks hooks;
    hooks.request = [this] { ++requests_; };
    hooks.compact = [this](const raft::Snapshot& snap) -> absl::Status {
      absl::StatusOr<raft::Snapshot> created = core_.storage()->CreateSnapshot(
          snap.metadata().index(), snap.metadata().conf_state(), snap.data());
      if (!created.ok()) return created.status();
      snapshots_.push_back(snap);
      return core_.storage()->Compact(snap.metadata().index());
    };
    hooks.prune = [this](raft::LogIndex keep_from) { pruned_.push_back(keep_from); };
    return hooks;
  }
  // Adds learner `id` through the core: its entry is applied at the index
  // returned.
  raft::LogIndex AddLearner(raft::NodeId id) {
    raft::ConfChange cc;
    cc.set_type(raft::ConfChange::ADD_LEARNER);
    cc.set_node_id(id);
    v1::Member m;
    m.set_peer_addr("b:" + std::to_string(id));
    cc.set_context(m.SerializeAsString());
    EXPECT_TRUE(core_.node()->ProposeConfChange(cc).ok());
    for (const raft::Entry& e : core_.Drain().committed) {
      if (e.type() == raftpb::ENTRY_CONF_CHANGE) membership_.ApplyEntry(core_.node(), e);
    }
    return membership_.current().index;
  }

  TestCore core_{1, {1}};
  Membership membership_{
      Membership::Options{1, 1000, 10, {}},
      Membership::Hooks{[](uint64_t) { return true; }, [](uint64_t, const Outcome&) {},
                        [](uint64_t) {}, [](raft::NodeId) { return true; },
                        [](std::vector<v1::Member>, std::map<raft::NodeId, std::string>) {}}};
  int requests_ = 0;
  std::vector<raft::Snapshot> snapshots_;
  std::vector<raft::LogIndex> pruned_;
};

TEST_F(LogCompactionTest, AsksForOneSnapshotEveryThresholdAppliedEntries) {
  LogCompaction compaction(10, core_.storage(), &membership_, Hooks());
  compaction.Reset(1);
  compaction.MaybeRequest(10, 0);
  EXPECT_EQ(requests_, 0);
  compaction.MaybeRequest(11, 0);
  EXPECT_EQ(requests_, 1);
  compaction.MaybeRequest(15, 0);  // one is being written
  EXPECT_EQ(requests_, 1);
  EXPECT_FALSE(compaction.OnCreated(11, true).has_value());
  EXPECT_EQ(compaction.newest(), 11u);
  // A large state: more entries between snapshots.
  compaction.MaybeRequest(21, 30);
  EXPECT_EQ(requests_, 1);
  compaction.MaybeRequest(41, 30);
  EXPECT_EQ(requests_, 2);
}

TEST_F(LogCompactionTest, ZeroThresholdNeverSnapshots) {
  LogCompaction compaction(0, core_.storage(), &membership_, Hooks());
  compaction.Reset(1);
  compaction.MaybeRequest(1000000, 0);
  EXPECT_EQ(requests_, 0);
}

TEST_F(LogCompactionTest, TheNextFileMakesThePendingOneTheLogSnapshot) {
  LogCompaction compaction(5, core_.storage(), &membership_, Hooks());
  compaction.Reset(1);
  EXPECT_FALSE(compaction.OnCreated(8, true).has_value());
  EXPECT_EQ(compaction.pending(), 8u);
  EXPECT_EQ(core_.storage()->FirstIndex(), 2u);  // nothing compacted yet
  EXPECT_TRUE(pruned_.empty());
  EXPECT_EQ(compaction.OnCreated(15, true), 8u);
  EXPECT_EQ(compaction.pending(), 15u);
  EXPECT_EQ(core_.storage()->FirstIndex(), 9u);
  EXPECT_EQ(pruned_, (std::vector<raft::LogIndex>{8}));
  ASSERT_EQ(snapshots_.size(), 1u);
  EXPECT_EQ(snapshots_[0].metadata().term(), *core_.storage()->TermAt(8));
  EXPECT_EQ(snapshots_[0].metadata().conf_state().voters_size(), 1);
}

TEST_F(LogCompactionTest, TheDescriptorHoldsTheMembersAsOfTheSnapshotIndex) {
  LogCompaction compaction(5, core_.storage(), &membership_, Hooks());
  compaction.Reset(1);
  ASSERT_TRUE(compaction.OnCreated(18, true) == std::nullopt);
  const raft::LogIndex added = AddLearner(2);
  ASSERT_GT(added, 20u);
  ASSERT_EQ(compaction.OnCreated(added, true), 18u);
  ASSERT_TRUE(core_.node()->Propose("y").ok());
  core_.Drain();
  ASSERT_EQ(compaction.OnCreated(core_.storage()->LastIndex(), true), added);
  ASSERT_EQ(snapshots_.size(), 2u);
  absl::StatusOr<std::vector<v1::Member>> before =
      storage::DecodeSnapshotDescriptor(snapshots_[0].data());
  absl::StatusOr<std::vector<v1::Member>> after =
      storage::DecodeSnapshotDescriptor(snapshots_[1].data());
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(before->size(), 1u);
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[1].peer_addr(), "b:2");
  EXPECT_EQ(snapshots_[1].metadata().conf_state().learners_size(), 1);
}

TEST_F(LogCompactionTest, FailedOldOrUnknownFilesChangeNothing) {
  LogCompaction compaction(5, core_.storage(), &membership_, Hooks());
  compaction.Reset(6);
  compaction.MaybeRequest(20, 0);
  EXPECT_TRUE(compaction.requested());
  EXPECT_FALSE(compaction.OnCreated(12, false).has_value());
  EXPECT_FALSE(compaction.requested());
  EXPECT_FALSE(compaction.OnCreated(6, true).has_value());    // not newer
  EXPECT_FALSE(compaction.OnCreated(500, true).has_value());  // not in the log
  EXPECT_FALSE(compaction.pending().has_value());
  EXPECT_EQ(compaction.newest(), 6u);
  EXPECT_TRUE(snapshots_.empty());
}

TEST_F(LogCompactionTest, AnInstalledSnapshotDropsThePendingFileButNotOneToRestore) {
  LogCompaction compaction(5, core_.storage(), &membership_, Hooks());
  compaction.Reset(1);
  EXPECT_FALSE(compaction.OnCreated(8, true).has_value());
  compaction.OnInstalled(40, /*applied=*/12);
  EXPECT_FALSE(compaction.pending().has_value());
  EXPECT_EQ(compaction.newest(), 40u);
  EXPECT_EQ(pruned_, (std::vector<raft::LogIndex>{13}));
  compaction.OnInstalled(50, /*applied=*/60);
  EXPECT_EQ(pruned_.back(), 50u);
}

}  // namespace
}  // namespace synod::server
