// Test helpers for the tree: store fixtures for both backends, command
// builders, and a canonical text dump of a whole state for comparisons.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "storage/apply.h"
#include "storage/memory_tree_store.h"
#include "storage/rocks_env.h"
#include "storage/rocks_tree_store.h"
#include "storage/tree_store.h"
#include "synod/v1/command.pb.h"
#include "tests/testing/temp_dir.h"

namespace synod::storage::testing {

// Owns a store (and for RocksDB its temp dir and env).
class StoreHolder {
 public:
  virtual ~StoreHolder() = default;
  virtual TreeStore* store() = 0;
  // Closes and reopens the store (RocksDB: the DB too). Memory: no-op.
  virtual void Reopen() {}
};

class MemoryHolder : public StoreHolder {
 public:
  MemoryHolder() = default;
  explicit MemoryHolder(uint32_t /*history_per_node: any*/) {}
  TreeStore* store() override { return &store_; }

 private:
  MemoryTreeStore store_;
};

class RocksHolder : public StoreHolder {
 public:
  // `history_per_node`: the bound of the Applier that will write to it.
  explicit RocksHolder(uint32_t history_per_node = ApplyLimits().history_per_node)
      : history_ring_(history_per_node) {
    Open();
  }
  ~RocksHolder() override {
    store_.reset();
    env_.reset();
  }
  TreeStore* store() override { return store_.get(); }
  void Reopen() override {
    store_.reset();
    env_.reset();
    Open();
  }
  // Reopens with another bound (the history is rewritten to it).
  void ReopenWithRing(uint32_t history_per_node) {
    history_ring_ = history_per_node;
    Reopen();
  }
  RocksEnv* env() { return env_.get(); }
  const std::string& path() const { return dir_.path(); }

 private:
  void Open() {
    RocksEnv::Options options;
    options.path = dir_.Sub("db");
    options.block_cache_bytes = 8 << 20;
    auto env = RocksEnv::Open(options);
    if (!env.ok()) {
      ADD_FAILURE() << env.status();
      return;
    }
    env_ = std::move(*env);
    RocksTreeStore::OpenOptions store_options;
    store_options.history_ring = history_ring_;
    auto store = RocksTreeStore::Open(env_.get(), store_options);
    if (!store.ok()) {
      ADD_FAILURE() << store.status();
      return;
    }
    store_ = std::move(*store);
  }

  uint32_t history_ring_;
  synod::testing::TempDir dir_{"synod-tree-"};
  std::unique_ptr<RocksEnv> env_;
  std::unique_ptr<RocksTreeStore> store_;
};

// Both backends, for typed tests: TYPED_TEST_SUITE(Suite, StoreBackends,
// StoreBackendNames) names the cases .../Memory and .../Rocks.
using StoreBackends = ::testing::Types<MemoryHolder, RocksHolder>;
class StoreBackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryHolder> ? "Memory" : "Rocks";
  }
};

// Applies commands one entry at a time (or in batches) with increasing
// indexes, as the server's apply thread would.
class Driver {
 public:
  explicit Driver(TreeStore* store, ApplyLimits limits = ApplyLimits())
      : store_(store), limits_(limits), applier_(std::make_unique<Applier>(store, limits)) {
    next_index_ = store->meta().applied_index + 1;
  }

  // Applies one command as the next entry; returns its outcome.
  EntryOutcome Apply(const v1::Command& command);
  // Applies several commands as one batch.
  std::vector<EntryOutcome> ApplyBatch(const std::vector<v1::Command>& commands);
  // After a store reopen: a new Applier over the reopened store.
  void Restart(TreeStore* store) {
    store_ = store;
    applier_ = std::make_unique<Applier>(store_, limits_);
  }

  uint64_t next_index() const { return next_index_; }
  void set_next_index(uint64_t index) { next_index_ = index; }
  Applier& applier() { return *applier_; }

 private:
  TreeStore* store_;
  ApplyLimits limits_;
  std::unique_ptr<Applier> applier_;
  uint64_t next_index_ = 1;
};

// Command builders. `time_ms` is the leader time stamped in the command.
v1::Command CreateCmd(const std::string& path, const std::string& data,
                      v1::CreateMode mode = v1::PERSISTENT, int64_t ttl_ms = 0,
                      uint64_t session = 0, int64_t time_ms = 1000);
v1::Command SetCmd(const std::string& path, const std::string& data, int64_t version = -1,
                   int64_t time_ms = 1000);
v1::Command DeleteCmd(const std::string& path, int64_t version = -1);
v1::Command MultiCmd(const std::vector<v1::Op>& ops, uint64_t session = 0);
v1::Command OpenSessionCmd(int64_t timeout_ms = 10000, const std::string& secret = "s");
// Makes `command` a write through `session` (0: none) presenting `secret`
// (the default is OpenSessionCmd's).
void SetSession(v1::Command* command, uint64_t session, const std::string& secret = "s");
v1::Command CloseSessionCmd(uint64_t session);
v1::Command ExpireSessionsCmd(const std::vector<uint64_t>& sessions);
v1::Command DeleteExpiredCmd(const std::vector<std::string>& paths, int64_t time_ms);
v1::Command CompactCmd(uint64_t revision);
v1::Command DigestCheckCmd(uint64_t revision, uint64_t digest);
v1::Command SettingsCmd(const v1::ClusterSettings& settings, bool bootstrap = false);
v1::Op CreateOp(const std::string& path, const std::string& data,
                v1::CreateMode mode = v1::PERSISTENT);
v1::Op SetOp(const std::string& path, const std::string& data, int64_t version = -1);
v1::Op DeleteOp(const std::string& path, int64_t version = -1);
v1::Op CheckOp(const std::string& path, int64_t version = -1);
// Sets the exactly-once identity of a command.
v1::Command WithSession(v1::Command command, uint64_t session, uint64_t sequence);

// A canonical text dump of the whole state (meta, nodes, history, sessions,
// indexes, events), plus consistency checks of the indexes against the
// nodes (children lists match num_children and the node set; ephemeral and
// TTL/container indexes match the node kinds). Check failures are reported
// as lines starting with "BROKEN".
std::string Dump(TreeStore* store);

// The digest recomputed from scratch over every node.
uint64_t RecomputeDigest(TreeStore* store);

// Expects the state of `holder` (its meta and Dump) to survive a reopen, a
// snapshot (written and in its header) and a restore into either backend,
// then that backend's reopen. The snapshot is left in `dir` as "snap".
void ExpectStateSurvivesReopenAndSnapshot(StoreHolder* holder, const synod::testing::TempDir& dir);

}  // namespace synod::storage::testing

namespace synod::storage::testing {

// Seeded generator of random but plausible commands over a small path
// universe, so that creates, sets, deletes, ACLs, callers, sessions,
// containers, TTLs, multis, compactions and auth commands interact often. Deterministic for a seed.
class CommandGenerator {
 public:
  explicit CommandGenerator(uint64_t seed) : rng_(seed) {}

  // The next command; `next_index` is the index it will be applied at
  // (session ids are indexes), `store` is read for live paths/sessions.
  v1::Command Next(uint64_t next_index, TreeStore* store);

 private:
  uint64_t Uniform(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  bool Chance(int percent) { return static_cast<int>(Uniform(100)) < percent; }
  std::string RandomPath();
  std::string RandomData();
  v1::Op RandomOp(TreeStore* store);
  // Anonymous, a user (alice, bob; sometimes with an ip) or the superuser.
  v1::Caller RandomCaller();
  // Open half the time, else 1-2 entries (user, world, ip, auth; some with
  // no permission bits, which is INVALID_ACL).
  void RandomAcl(google::protobuf::RepeatedPtrField<v1::Acl>* out);
  uint64_t RandomSession(TreeStore* store);
  std::string RandomSecret(uint64_t session);

  std::mt19937_64 rng_;
  int64_t time_ms_ = 1000;
  std::vector<uint64_t> sessions_;  // opened (maybe since closed)
  uint64_t sequence_ = 0;
  uint64_t last_index_ = 0;
};

}  // namespace synod::storage::testing
