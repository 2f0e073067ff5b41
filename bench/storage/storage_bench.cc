// Storage benchmarks (figures, not timed tests):
//   storage_bench                      apply of sets/creates/deletes in
//                                      batches of 64 on RocksTreeStore (no
//                                      fsync), GetChildren pages of 1,000
//                                      over 100,000 children
//   storage_bench --grow_nodes=N [--grow_cache_mb=M] [--grow_dir=D]
//                                      grows a tree to N nodes and prints RSS
//                                      and rate as it grows
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "storage/apply.h"
#include "storage/memory_tree_store.h"
#include "storage/rocks_env.h"
#include "storage/rocks_tree_store.h"

namespace synod::storage {
namespace {

constexpr int kBatch = 64;
constexpr size_t kDataBytes = 256;

// A fresh RocksDB-backed store in a temp dir, removed at the end.
class BenchStore {
 public:
  explicit BenchStore(size_t cache_bytes = 256u << 20, std::string dir = "") {
    if (dir.empty()) {
      char tmpl[] = "/tmp/synod-bench-XXXXXX";
      dir = mkdtemp(tmpl);
      owned_ = true;
    }
    dir_ = dir;
    RocksEnv::Options options;
    options.path = dir_ + "/db";
    options.block_cache_bytes = cache_bytes;
    auto env = RocksEnv::Open(options);
    if (!env.ok()) Die(env.status());
    env_ = std::move(*env);
    ApplyLimits limits;
    if (const char* h = std::getenv("SYNOD_BENCH_HISTORY")) limits.history_per_node = std::atoi(h);
    RocksTreeStore::OpenOptions store_options;
    store_options.history_ring = std::max<uint32_t>(limits.history_per_node, 1);
    auto store = RocksTreeStore::Open(env_.get(), store_options);
    if (!store.ok()) Die(store.status());
    store_ = std::move(*store);
    applier_ = std::make_unique<Applier>(store_.get(), limits);
    next_ = store_->meta().applied_index + 1;
  }
  ~BenchStore() {
    applier_.reset();
    store_.reset();
    env_.reset();
    if (owned_) std::filesystem::remove_all(dir_);
  }

  static void Die(const absl::Status& s) {
    std::fprintf(stderr, "storage_bench: %s\n", s.ToString().c_str());
    std::exit(1);
  }

  // Applies the commands as one batch; aborts on a storage error or if any
  // command did not succeed (a benchmark of failures would be meaningless).
  void Apply(const std::vector<v1::Command>& commands) {
    entries_.clear();
    for (const v1::Command& c : commands) entries_.push_back(ApplyEntry{next_++, &c});
    auto out = applier_->ApplyBatch(entries_);
    if (!out.ok()) Die(out.status());
    for (const EntryOutcome& o : *out) {
      if (o.result.code() != v1::OK) {
        Die(absl::InternalError("command failed: " + v1::ErrorCode_Name(o.result.code())));
      }
    }
  }

  TreeStore* store() { return store_.get(); }
  RocksEnv* env() { return env_.get(); }

 private:
  std::string dir_;
  bool owned_ = false;
  std::unique_ptr<RocksEnv> env_;
  std::unique_ptr<RocksTreeStore> store_;
  std::unique_ptr<Applier> applier_;
  std::vector<ApplyEntry> entries_;
  uint64_t next_ = 1;
};

v1::Command Create(const std::string& path, const std::string& data) {
  v1::Command c;
  c.set_leader_time_ms(1);
  v1::CreateOp* op = c.mutable_txn()->add_ops()->mutable_create();
  op->set_path(path);
  op->set_data(data);
  return c;
}

v1::Command Set(const std::string& path, const std::string& data) {
  v1::Command c;
  c.set_leader_time_ms(2);
  v1::SetOp* op = c.mutable_txn()->add_ops()->mutable_set();
  op->set_path(path);
  op->set_data(data);
  return c;
}

v1::Command Delete(const std::string& path) {
  v1::Command c;
  c.mutable_txn()->add_ops()->mutable_delete_()->set_path(path);
  return c;
}

std::string NodeName(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "n%09llu", static_cast<unsigned long long>(i));
  return buf;
}

// Creates /b and `count` children /b/n... in batches.
void Populate(BenchStore* s, uint64_t count, const std::string& data) {
  s->Apply({Create("/b", "")});
  std::vector<v1::Command> batch;
  for (uint64_t i = 0; i < count; ++i) {
    batch.push_back(Create("/b/" + NodeName(i), data));
    if (batch.size() == 1024) {
      s->Apply(batch);
      batch.clear();
    }
  }
  if (!batch.empty()) s->Apply(batch);
}

// 256-byte sets over `s`'s `nodes` existing nodes, `batch_size` per batch,
// with a stride that spreads them over the key space as clients would.
void ApplySets(benchmark::State& state, BenchStore* s, uint64_t nodes, int batch_size) {
  const std::string data(kDataBytes, 'x');
  std::vector<v1::Command> batch(batch_size, Set("/b/" + NodeName(0), data));
  uint64_t i = 0;
  for (auto _ : state) {
    for (v1::Command& c : batch) {
      c.mutable_txn()->mutable_ops(0)->mutable_set()->set_path("/b/" + NodeName((i * 7919) % nodes));
      ++i;
    }
    s->Apply(batch);
  }
  state.SetItemsProcessed(state.iterations() * batch_size);
}

// A store holding `nodes` nodes of 256 B, populated once per shape: Google
// Benchmark calls a benchmark function several times. (Static: its
// destructor removes the temp dir at exit.)
template <uint64_t kNodes>
BenchStore* PopulatedStore() {
  static std::unique_ptr<BenchStore> store = [] {
    auto fresh = std::make_unique<BenchStore>();
    Populate(fresh.get(), kNodes, std::string(kDataBytes, 'x'));
    return fresh;
  }();
  return store.get();
}

// Over 100,000 nodes, in batches of 64.
void BM_ApplySets(benchmark::State& state) {
  ApplySets(state, PopulatedStore<100000>(), 100000, kBatch);
}
BENCHMARK(BM_ApplySets)->Unit(benchmark::kMicrosecond)->MinTime(3);

// Over 1,000 nodes, two per batch: the shape of the server's apply under a
// few writes in flight (small batches, hot keys), where per-batch and
// per-set costs are not hidden behind batches of 64.
void BM_ApplySetsSmallBatches(benchmark::State& state) {
  ApplySets(state, PopulatedStore<1000>(), 1000, 2);
}
BENCHMARK(BM_ApplySetsSmallBatches)->Unit(benchmark::kMicrosecond)->MinTime(3);

// 256-byte creates of new children, in batches of 64.
void BM_ApplyCreates(benchmark::State& state) {
  BenchStore s;
  s.Apply({Create("/b", "")});
  const std::string data(kDataBytes, 'x');
  std::vector<v1::Command> batch(kBatch, Create("/b/x", data));
  uint64_t i = 0;
  for (auto _ : state) {
    for (v1::Command& c : batch) {
      c.mutable_txn()->mutable_ops(0)->mutable_create()->set_path("/b/" + NodeName(i++));
    }
    s.Apply(batch);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_ApplyCreates)->Unit(benchmark::kMicrosecond)->MinTime(3);

// Deletes of existing 256-byte nodes, in batches of 64 (refilled untimed).
void BM_ApplyDeletes(benchmark::State& state) {
  constexpr uint64_t kChunk = 64 * 1024;
  BenchStore s;
  const std::string data(kDataBytes, 'x');
  s.Apply({Create("/b", "")});
  std::vector<v1::Command> batch(kBatch, Delete("/b/x"));
  uint64_t created = 0;
  uint64_t deleted = 0;
  for (auto _ : state) {
    if (deleted + kBatch > created) {
      state.PauseTiming();
      std::vector<v1::Command> fill;
      for (uint64_t k = 0; k < kChunk; ++k) {
        fill.push_back(Create("/b/" + NodeName(created++), data));
        if (fill.size() == 1024) {
          s.Apply(fill);
          fill.clear();
        }
      }
      state.ResumeTiming();
    }
    for (v1::Command& c : batch) {
      c.mutable_txn()->mutable_ops(0)->mutable_delete_()->set_path("/b/" + NodeName(deleted++));
    }
    s.Apply(batch);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_ApplyDeletes)->Unit(benchmark::kMicrosecond)->MinTime(3);

// The same sets on the in-memory reference store, for scale.
void BM_ApplySetsMemory(benchmark::State& state) {
  MemoryTreeStore store;
  Applier applier(&store, ApplyLimits());
  const std::string data(kDataBytes, 'x');
  std::vector<v1::Command> batch;
  uint64_t next = 1;
  auto apply = [&](const std::vector<v1::Command>& commands) {
    std::vector<ApplyEntry> entries;
    for (const v1::Command& c : commands) entries.push_back({next++, &c});
    if (!applier.ApplyBatch(entries).ok()) std::abort();
  };
  apply({Create("/b", "")});
  for (int i = 0; i < 1000; ++i) apply({Create("/b/" + NodeName(i), data)});
  for (int i = 0; i < kBatch; ++i) batch.push_back(Set("/b/" + NodeName(0), data));
  uint64_t i = 0;
  for (auto _ : state) {
    for (v1::Command& c : batch) {
      c.mutable_txn()->mutable_ops(0)->mutable_set()->set_path("/b/" + NodeName(i++ % 1000));
    }
    apply(batch);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_ApplySetsMemory)->Unit(benchmark::kMicrosecond);

// GetChildren over 100,000 children, pages of 1,000 (one iteration = the
// whole listing; items = children returned).
void BM_GetChildrenPages(benchmark::State& state) {
  constexpr uint64_t kChildren = 100000;
  static std::unique_ptr<BenchStore> store = [] {
    auto fresh = std::make_unique<BenchStore>();
    Populate(fresh.get(), kChildren, std::string(32, 'x'));
    return fresh;
  }();
  BenchStore& s = *store;
  for (auto _ : state) {
    std::string after;
    uint64_t seen = 0;
    for (;;) {
      auto page = s.store()->GetChildren("/b", after, 1000, state.range(0) != 0);
      if (!page.ok() || page->code != v1::OK) BenchStore::Die(page.status());
      seen += page->names.size();
      if (!page->has_more) break;
      after = page->names.back();
    }
    if (seen != kChildren) BenchStore::Die(absl::InternalError("lost children"));
  }
  state.SetItemsProcessed(state.iterations() * kChildren);
}
BENCHMARK(BM_GetChildrenPages)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("with_stats")
    ->Unit(benchmark::kMillisecond);

// The digest term of a 256-byte node (twice per set: old and new).
void BM_DigestTerm(benchmark::State& state) {
  Node node;
  node.data.assign(kDataBytes, 'x');
  for (auto _ : state) benchmark::DoNotOptimize(NodeDigestTerm("/b/n000012345", node));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DigestTerm);

// ---- Growth mode. ----

long RssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

int Grow(uint64_t nodes, size_t cache_mb, const std::string& dir) {
  BenchStore s(cache_mb << 20, dir);
  const std::string data(100, 'g');
  std::printf(
      "growing to %llu nodes (100-byte data, 1,000 children per parent), block cache %zu MiB\n",
      static_cast<unsigned long long>(nodes), cache_mb);
  std::printf("%12s %10s %12s %10s\n", "nodes", "RSS_MiB", "nodes/s", "elapsed_s");
  s.Apply({Create("/g", "")});
  auto start = std::chrono::steady_clock::now();
  auto last = start;
  uint64_t last_count = 0;
  std::vector<v1::Command> batch;
  for (uint64_t i = 0; i < nodes; ++i) {
    if (i % 1000 == 0) {
      batch.push_back(Create("/g/" + NodeName(i / 1000), ""));
    }
    batch.push_back(Create("/g/" + NodeName(i / 1000) + "/" + NodeName(i), data));
    if (batch.size() >= 1024 || i + 1 == nodes) {
      s.Apply(batch);
      batch.clear();
    }
    if ((i + 1) % 500000 == 0 || i + 1 == nodes) {
      auto now = std::chrono::steady_clock::now();
      double dt = std::chrono::duration<double>(now - last).count();
      std::printf("%12llu %10.1f %12.0f %10.1f\n", static_cast<unsigned long long>(i + 1),
                  RssKiB() / 1024.0, (i + 1 - last_count) / dt,
                  std::chrono::duration<double>(now - start).count());
      std::fflush(stdout);
      last = now;
      last_count = i + 1;
    }
  }
  // Reads still work at size: a random-ish sample of point reads.
  auto t0 = std::chrono::steady_clock::now();
  uint64_t found = 0;
  for (uint64_t k = 0; k < 100000; ++k) {
    uint64_t i = (k * 2654435761u) % nodes;
    auto r = s.store()->Get("/g/" + NodeName(i / 1000) + "/" + NodeName(i));
    if (r.ok() && r->code == v1::OK) ++found;
  }
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("100000 point reads: %llu found, %.0f reads/s, RSS %.1f MiB\n",
              static_cast<unsigned long long>(found), 100000 / dt, RssKiB() / 1024.0);
  return 0;
}

// Applies `batches` batches of 64 sets on a fresh store of 100,000 nodes
// and prints the time (for instruction counting under perf stat).
int ProfileSets(uint64_t batches) {
  constexpr uint64_t kNodes = 100000;
  const std::string data(kDataBytes, 'x');
  BenchStore s;
  Populate(&s, kNodes, data);
  std::vector<v1::Command> batch(kBatch, Set("/b/" + NodeName(0), data));
  auto t0 = std::chrono::steady_clock::now();
  uint64_t i = 0;
  for (uint64_t b = 0; b < batches; ++b) {
    for (v1::Command& c : batch) {
      c.mutable_txn()->mutable_ops(0)->mutable_set()->set_path("/b/" +
                                                               NodeName((i++ * 7919) % kNodes));
    }
    s.Apply(batch);
  }
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%llu sets in %.2f s: %.0f sets/s\n", static_cast<unsigned long long>(i), dt, i / dt);
  if (std::getenv("SYNOD_BENCH_STATS") != nullptr) {
    std::string stats;
    s.env()->db()->GetProperty("rocksdb.stats", &stats);
    std::printf("%s\n", stats.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace synod::storage

int main(int argc, char** argv) {
  uint64_t grow_nodes = 0;
  size_t grow_cache_mb = 32;
  std::string grow_dir;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--grow_nodes=", 0) == 0) {
      grow_nodes = std::strtoull(arg.c_str() + 13, nullptr, 10);
    } else if (arg.rfind("--grow_cache_mb=", 0) == 0) {
      grow_cache_mb = std::strtoull(arg.c_str() + 16, nullptr, 10);
    } else if (arg.rfind("--profile_sets=", 0) == 0) {
      return synod::storage::ProfileSets(std::strtoull(arg.c_str() + 15, nullptr, 10));
    } else if (arg.rfind("--grow_dir=", 0) == 0) {
      grow_dir = arg.substr(11);
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (grow_nodes > 0) return synod::storage::Grow(grow_nodes, grow_cache_mb, grow_dir);
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
