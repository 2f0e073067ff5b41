// Long random command sequences applied to both backends: after every batch
// the full dumps (and digests) must be equal, and each entry's result and
// events must be the same. A failure names its seed; rerun one seed with
// SYNOD_TREE_SEED=<seed>, more with SYNOD_TREE_SEEDS=<count>.
#include <cstdlib>

#include "gtest/gtest.h"
#include "storage/tree_test_util.h"

namespace synod::storage::testing {
namespace {

ApplyLimits SmallLimits() {
  ApplyLimits limits;
  limits.max_data_bytes = 64;
  limits.max_multi_ops = 8;
  limits.history_per_node = 3;
  return limits;
}

void RunSeed(uint64_t seed, int batches) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: SYNOD_TREE_SEED=" + std::to_string(seed) +
               ")");
  MemoryHolder memory;
  RocksHolder rocks(SmallLimits().history_per_node);
  Driver mem_driver(memory.store(), SmallLimits());
  Driver rocks_driver(rocks.store(), SmallLimits());
  CommandGenerator gen(seed);
  std::mt19937_64 sizes(seed ^ 0x9e3779b97f4a7c15ULL);
  for (int b = 0; b < batches; ++b) {
    size_t n = 1 + sizes() % 8;
    std::vector<v1::Command> batch;
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(gen.Next(mem_driver.next_index() + i, memory.store()));
    }
    std::vector<EntryOutcome> a = mem_driver.ApplyBatch(batch);
    std::vector<EntryOutcome> r = rocks_driver.ApplyBatch(batch);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(a[i].result.SerializeAsString(), r[i].result.SerializeAsString())
          << "batch " << b << " entry " << i << ": " << batch[i].ShortDebugString();
      ASSERT_EQ(a[i].events.size(), r[i].events.size());
      for (size_t e = 0; e < a[i].events.size(); ++e) {
        ASSERT_EQ(a[i].events[e].SerializeAsString(), r[i].events[e].SerializeAsString());
      }
    }
    std::string mem_dump = Dump(memory.store());
    std::string rocks_dump = Dump(rocks.store());
    ASSERT_EQ(mem_dump, rocks_dump) << "after batch " << b;
    ASSERT_EQ(mem_dump.find("BROKEN"), std::string::npos) << mem_dump;
    ASSERT_EQ(memory.store()->meta().digest, RecomputeDigest(memory.store()))
        << "after batch " << b;
  }
}

TEST(DifferentialTest, MemoryAndRocksAgree) {
  if (const char* one = std::getenv("SYNOD_TREE_SEED")) {
    RunSeed(std::strtoull(one, nullptr, 10), 600);
    return;
  }
  int seeds = 4;
  if (const char* many = std::getenv("SYNOD_TREE_SEEDS")) seeds = std::atoi(many);
  for (int s = 1; s <= seeds; ++s) {
    RunSeed(static_cast<uint64_t>(s) * 7919, 500);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace synod::storage::testing
