// Cluster settings in the replicated state: SetSettingsCommand semantics,
// the limits apply takes from the state rather than from the Applier it runs
// in, the history ring following the recorded bound, and settings surviving
// a reopen and a snapshot round trip.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/apply.h"
#include "storage/cluster_settings.h"
#include "storage/snapshot.h"
#include "storage/tree_test_util.h"

namespace synod::storage::testing {
namespace {

v1::ClusterSettings Settings(int64_t max_data_bytes, int32_t max_multi_ops,
                             int32_t history_per_node, int64_t min_session_ms = 0,
                             int64_t max_session_ms = 0) {
  v1::ClusterSettings s;
  s.set_max_data_bytes(max_data_bytes);
  s.set_max_multi_ops(max_multi_ops);
  s.set_history_per_node(history_per_node);
  s.set_min_session_timeout_ms(min_session_ms);
  s.set_max_session_timeout_ms(max_session_ms);
  return s;
}

// A full, valid bootstrap: what a first leader proposes from its flags.
v1::ClusterSettings Bootstrap(int64_t max_data_bytes, int32_t max_multi_ops,
                              int32_t history_per_node) {
  v1::ClusterSettings s = Settings(max_data_bytes, max_multi_ops, history_per_node, 2000, 30000);
  s.set_max_ephemerals_per_session(500);
  return s;
}

ApplyLimits Flags(int64_t max_data_bytes, size_t max_multi_ops, uint32_t history_per_node) {
  ApplyLimits limits;
  limits.max_data_bytes = max_data_bytes;
  limits.max_multi_ops = max_multi_ops;
  limits.history_per_node = history_per_node;
  return limits;
}

v1::Command MultiOf(int ops) {
  std::vector<v1::Op> list;
  for (int i = 0; i < ops; ++i) list.push_back(CheckOp("/"));
  return MultiCmd(list);
}

std::vector<std::string> VersionData(TreeStore* store, const std::string& path) {
  absl::StatusOr<HistoryResult> h = store->History(path, 0);
  EXPECT_TRUE(h.ok()) << h.status();
  std::vector<std::string> out;
  if (h.ok()) {
    for (const HistoryEntry& e : h->versions) out.push_back(e.data);
  }
  return out;
}

void CreateAndSet(Driver* driver, const std::string& path, int sets) {
  ASSERT_EQ(driver->Apply(CreateCmd(path, "v0")).result.code(), v1::OK);
  for (int i = 1; i <= sets; ++i) {
    ASSERT_EQ(driver->Apply(SetCmd(path, "v" + std::to_string(i))).result.code(), v1::OK);
  }
}

template <typename Holder>
class SettingsApplyTest : public ::testing::Test {};
TYPED_TEST_SUITE(SettingsApplyTest, StoreBackends, StoreBackendNames);

TYPED_TEST(SettingsApplyTest, TheRecordedSettingsDecideNotTheApplierLimits) {
  TypeParam holder;
  // An Applier configured with generous limits, as a replica whose flags
  // say so: once the log records smaller ones, those decide.
  Driver driver(holder.store(), Flags(1 << 20, 1000, ApplyLimits().history_per_node));
  EXPECT_EQ(driver.Apply(CreateCmd("/big", std::string(100, 'x'))).result.code(), v1::OK);
  EXPECT_FALSE(holder.store()->meta().settings.has_value());

  EntryOutcome boot = driver.Apply(SettingsCmd(Bootstrap(64, 3, 10), /*bootstrap=*/true));
  ASSERT_EQ(boot.result.code(), v1::OK);
  EXPECT_EQ(boot.result.settings().max_data_bytes(), 64);
  ASSERT_TRUE(holder.store()->meta().settings.has_value());
  EXPECT_EQ(holder.store()->meta().settings->max_multi_ops, 3u);

  EXPECT_EQ(driver.Apply(CreateCmd("/b", std::string(65, 'x'))).result.code(), v1::TOO_LARGE);
  EXPECT_EQ(driver.Apply(CreateCmd("/b", std::string(64, 'x'))).result.code(), v1::OK);
  EXPECT_EQ(driver.Apply(SetCmd("/b", std::string(65, 'x'))).result.code(), v1::TOO_LARGE);
  EXPECT_EQ(driver.Apply(MultiOf(4)).result.code(), v1::TOO_MANY_OPS);
  EXPECT_EQ(driver.Apply(MultiOf(3)).result.code(), v1::OK);
  // Session timeouts are clamped into the recorded bounds.
  EXPECT_EQ(driver.Apply(OpenSessionCmd(500)).result.session_timeout_ms(), 2000);
  EXPECT_EQ(driver.Apply(OpenSessionCmd(99000)).result.session_timeout_ms(), 30000);
  EXPECT_EQ(driver.Apply(OpenSessionCmd(5000)).result.session_timeout_ms(), 5000);
  EXPECT_EQ(driver.Apply(OpenSessionCmd(0)).result.session_timeout_ms(), 2000);
  EXPECT_EQ(driver.Apply(OpenSessionCmd(-5)).result.session_timeout_ms(), 2000);
}

TYPED_TEST(SettingsApplyTest, OnlyTheFirstBootstrapCounts) {
  TypeParam holder;
  Driver driver(holder.store());
  ASSERT_EQ(driver.Apply(SettingsCmd(Bootstrap(100, 5, 10), true)).result.code(), v1::OK);
  // A later leader's bootstrap (it had not seen the first applied) is void.
  EntryOutcome late = driver.Apply(SettingsCmd(Bootstrap(999, 50, 10), true));
  EXPECT_EQ(late.result.code(), v1::OK);
  EXPECT_EQ(late.result.settings().max_data_bytes(), 100);
  EXPECT_EQ(holder.store()->meta().settings->max_data_bytes, 100);
}

TYPED_TEST(SettingsApplyTest, AChangeReplacesTheGivenFieldsOnly) {
  TypeParam holder;
  Driver driver(holder.store());
  ASSERT_EQ(driver.Apply(SettingsCmd(Bootstrap(100, 5, 10), true)).result.code(), v1::OK);
  EntryOutcome change = driver.Apply(SettingsCmd(Settings(200, 0, 0)));
  ASSERT_EQ(change.result.code(), v1::OK);
  ClusterSettings want = FromProto(Bootstrap(200, 5, 10));
  EXPECT_EQ(*holder.store()->meta().settings, want);
  EXPECT_EQ(FromProto(change.result.settings()), want);
  EXPECT_EQ(driver.Apply(CreateCmd("/a", std::string(200, 'x'))).result.code(), v1::OK);
}

TYPED_TEST(SettingsApplyTest, BadChangesAreRefusedAndChangeNothing) {
  TypeParam holder;
  Driver driver(holder.store());
  ASSERT_EQ(driver.Apply(SettingsCmd(Bootstrap(100, 5, 10), true)).result.code(), v1::OK);
  const std::string before = Dump(holder.store());
  const std::vector<v1::ClusterSettings> bad = {
      Settings(0, 0, 4),                  // history_per_node is fixed
      Settings(-1, 0, 0),                 // negative size
      Settings(kMaxDataBytesLimit + 1, 0, 0),
      Settings(0, -3, 0),
      Settings(0, 0, 0, 50000, 0),        // min above the recorded max
      Settings(0, 0, 0, 0, 1000),         // max below the recorded min
      [] {
        v1::ClusterSettings s = Settings(0, 0, 0);
        s.set_max_ephemerals_per_session(-1);
        return s;
      }(),
  };
  for (const v1::ClusterSettings& s : bad) {
    EntryOutcome out = driver.Apply(SettingsCmd(s));
    EXPECT_EQ(out.result.code(), v1::INVALID_ARGUMENT) << s.ShortDebugString();
  }
  // An invalid bootstrap is refused too (the state still has the first).
  MemoryHolder fresh;
  Driver fresh_driver(fresh.store());
  EXPECT_EQ(fresh_driver.Apply(SettingsCmd(Settings(100, 5, 0), true)).result.code(),
            v1::INVALID_ARGUMENT);
  EXPECT_FALSE(fresh.store()->meta().settings.has_value());
  // Only the applied indexes moved.
  std::string after = Dump(holder.store());
  EXPECT_EQ(after.substr(after.find('\n')), before.substr(before.find('\n')));
  // The same history bound is no change: accepted.
  EXPECT_EQ(driver.Apply(SettingsCmd(Settings(0, 0, 10))).result.code(), v1::OK);
}

// Two replicas whose Appliers were given different limits (their flags),
// with stores laid out for different history bounds, apply the same log:
// after the bootstrap entry every result, the digest and the whole state
// (history included) are the same.
TEST(SettingsReplicaTest, DifferentFlagsSameLogSameState) {
  RocksHolder a(3);
  RocksHolder b(7);
  Driver da(a.store(), Flags(1 << 20, 1000, 3));
  Driver db(b.store(), Flags(16, 2, 7));
  std::vector<v1::Command> log;
  log.push_back(SettingsCmd(Bootstrap(64, 4, 5), true));
  log.push_back(CreateCmd("/a", "v0"));
  for (int i = 1; i <= 9; ++i) log.push_back(SetCmd("/a", "v" + std::to_string(i)));
  log.push_back(CreateCmd("/big", std::string(40, 'x')));
  log.push_back(CreateCmd("/huge", std::string(65, 'x')));
  log.push_back(MultiOf(4));
  log.push_back(MultiOf(5));
  log.push_back(OpenSessionCmd(100));
  log.push_back(SettingsCmd(Settings(128, 0, 0)));
  log.push_back(CreateCmd("/huge", std::string(65, 'x')));
  // Batches of different shapes on each side.
  std::vector<EntryOutcome> ra = da.ApplyBatch(log);
  std::vector<EntryOutcome> rb;
  for (const v1::Command& c : log) rb.push_back(db.Apply(c));
  ASSERT_EQ(ra.size(), rb.size());
  for (size_t i = 0; i < ra.size(); ++i) {
    EXPECT_EQ(ra[i].result.SerializeAsString(), rb[i].result.SerializeAsString()) << i;
  }
  EXPECT_EQ(ra[11].result.code(), v1::OK);
  EXPECT_EQ(ra[12].result.code(), v1::TOO_LARGE);
  EXPECT_EQ(ra[13].result.code(), v1::OK);
  EXPECT_EQ(ra[14].result.code(), v1::TOO_MANY_OPS);
  EXPECT_EQ(ra[15].result.session_timeout_ms(), 2000);
  EXPECT_EQ(ra[17].result.code(), v1::OK);
  EXPECT_EQ(a.store()->history_ring(), 5u);
  EXPECT_EQ(b.store()->history_ring(), 5u);
  EXPECT_EQ(a.store()->meta(), b.store()->meta());
  EXPECT_EQ(Dump(a.store()), Dump(b.store()));
  EXPECT_EQ(VersionData(a.store(), "/a"),
            (std::vector<std::string>{"v9", "v8", "v7", "v6", "v5"}));
}

TEST(SettingsStoreTest, SettingsAndTheirRingSurviveAReopen) {
  RocksHolder rocks(10);
  {
    Driver driver(rocks.store());
    ASSERT_EQ(driver.Apply(SettingsCmd(Bootstrap(64, 4, 3), true)).result.code(), v1::OK);
    CreateAndSet(&driver, "/a", 6);
  }
  const StoreMeta meta = rocks.store()->meta();
  // Reopened with another ring asked for: the recorded bound wins.
  rocks.ReopenWithRing(8);
  EXPECT_EQ(rocks.store()->meta(), meta);
  EXPECT_EQ(rocks.store()->history_ring(), 3u);
  EXPECT_EQ(VersionData(rocks.store(), "/a"), (std::vector<std::string>{"v6", "v5", "v4"}));
}

TEST(SettingsSnapshotTest, RoundTripCarriesTheSettingsAndTheirRing) {
  synod::testing::TempDir dir("synod-settings-");
  RocksHolder from(10);
  Driver driver(from.store());
  ASSERT_EQ(driver.Apply(SettingsCmd(Bootstrap(64, 4, 6), true)).result.code(), v1::OK);
  CreateAndSet(&driver, "/a", 9);
  auto written = from.store()->WriteSnapshot(dir.Sub("snap"));
  ASSERT_TRUE(written.ok()) << written.status();
  auto header = ReadSnapshotHeader(dir.Sub("snap"));
  ASSERT_TRUE(header.ok()) << header.status();
  ASSERT_TRUE(header->meta.settings.has_value());
  EXPECT_EQ(*header->meta.settings, *from.store()->meta().settings);

  // Into a store laid out for another bound: it takes the snapshot's and
  // keeps all six versions.
  RocksHolder to(2);
  auto restored = to.store()->RestoreSnapshot(dir.Sub("snap"));
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(to.store()->meta(), from.store()->meta());
  EXPECT_EQ(to.store()->history_ring(), 6u);
  EXPECT_EQ(Dump(to.store()), Dump(from.store()));
  EXPECT_EQ(VersionData(to.store(), "/a").size(), 6u);
  // And applies on with them, whatever its Applier was given.
  Driver after(to.store(), Flags(1 << 20, 1000, 2));
  EXPECT_EQ(after.Apply(SetCmd("/a", std::string(65, 'x'))).result.code(), v1::TOO_LARGE);
  ASSERT_EQ(after.Apply(SetCmd("/a", "v10")).result.code(), v1::OK);
  EXPECT_EQ(VersionData(to.store(), "/a").size(), 6u);
  to.Reopen();
  EXPECT_EQ(to.store()->meta().settings, from.store()->meta().settings);

  MemoryHolder memory;
  ASSERT_TRUE(memory.store()->RestoreSnapshot(dir.Sub("snap")).ok());
  EXPECT_EQ(memory.store()->meta().settings, from.store()->meta().settings);
}

}  // namespace
}  // namespace synod::storage::testing
